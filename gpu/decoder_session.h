// SPDX-License-Identifier: MIT
// The decoder a tool should use: an eval::DecoderSession on the CUDA decoder when a device can be used, or on the CPU
// engine otherwise, after the single log line "CUDA unavailable: <reason>; using the CPU path"; and the session
// over a CUDA decoder that the evaluator's GPU speed benchmark shares.
#pragma once
#include <memory>
#include <string>

#include "core/eval/speed_bench.h"
#include "core/io/model.h"
#include "gpu/cuda_decoder.h"

namespace mixq::gpu {

/// A session on a CUDA decoder, which it keeps alive: reset() starts a new sequence; feed() returns the logits of
/// every fed position, or of the last one only when `last_only` (a tokens/s benchmark's need). The decode bound is
/// the device's copy bandwidth when `device_bandwidth` is set, else host DRAM's.
class CudaDecoderSession : public eval::DecoderSession {
public:
    CudaDecoderSession(std::shared_ptr<CudaDecoder> dec, bool last_only, std::string device, bool device_bandwidth);
    void reset() override;
    engine::RowMatrix feed(const std::vector<int>& ids) override;
    uint64_t weight_bytes_per_token() const override;
    std::string device() const override { return m_device; }
    double bound_bandwidth() const override;

private:
    std::shared_ptr<CudaDecoder> m_dec;
    bool m_lastOnly;
    std::string m_device;
    bool m_deviceBandwidth;
};

/// A session over `model` with a KV cache of `capacity` positions: feed() appends ids and returns the logits of
/// every fed position [ids, vocab]; reset() starts a new sequence. device() is "cuda:N" or "cpu".
/// `opt` configures the CUDA decoder (its max_positions is set to capacity); the CPU path runs engine::Transformer.
std::unique_ptr<eval::DecoderSession> make_decoder_session(std::shared_ptr<const io::Model> model,
                                                           CudaDecoderOptions opt, int capacity);

}  // namespace mixq::gpu
