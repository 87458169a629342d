// SPDX-License-Identifier: MIT
// Prefill and decode throughput of a decoder (median of several runs after a warm-up), with the DRAM-bandwidth
// bound for decode (weight bytes streamed per token ÷ measured read bandwidth).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/language_model.h"
#include "core/engine/tensor.h"

namespace mixq::eval {

/// What a benchmark needs from a decoder: start a fresh sequence and feed tokens. Implemented over a LanguageModel
/// (LanguageModelSession: the CPU engine, the built-in ONNX runner) and by gpu/ over the CUDA decoder.
class DecoderSession {
public:
    virtual ~DecoderSession() = default;
    /// A new empty sequence.
    virtual void reset() = 0;
    /// Appends tokens and returns their logits (at least the last row).
    virtual engine::RowMatrix feed(const std::vector<int>& ids) = 0;
    /// Weight bytes streamed per decoded token (the decode bound's numerator).
    virtual uint64_t weight_bytes_per_token() const = 0;
    virtual std::string device() const { return "cpu"; }
    virtual int threads() const { return 1; }
    /// The decode bound's bandwidth in bytes/s (e.g. a GPU's measured copy bandwidth); 0 = host DRAM read bandwidth.
    virtual double bound_bandwidth() const { return 0.0; }
};

/// A DecoderSession over a LanguageModel (not owned): each reset starts a session of `capacity` positions.
class LanguageModelSession : public DecoderSession {
public:
    LanguageModelSession(engine::LanguageModel& lm, int capacity, std::string device, int threads)
        : m_lm(lm), m_capacity(capacity), m_device(std::move(device)), m_threads(threads) {}
    void reset() override;
    engine::RowMatrix feed(const std::vector<int>& ids) override;
    uint64_t weight_bytes_per_token() const override;
    std::string device() const override { return m_device; }
    int threads() const override { return m_threads; }

private:
    engine::LanguageModel& m_lm;
    int m_capacity;
    std::string m_device;
    int m_threads;
    std::unique_ptr<engine::LmSession> m_session;
};

struct SpeedResult {
    int prompt_tokens = 0;
    int decode_tokens = 0;
    int runs = 0;
    double prefill_tokens_per_s = 0;  ///< median
    double decode_tokens_per_s = 0;   ///< median
    double bandwidth_bytes_per_s = 0; ///< measured DRAM read bandwidth
    double decode_bound_tokens_per_s = 0;  ///< bandwidth / weight bytes per token
    uint64_t weight_bytes_per_token = 0;
    size_t peak_rss = 0;
    std::string device;
    int threads = 1;
};

SpeedResult run_speed_bench(DecoderSession& s, int prompt_tokens, int decode_tokens, int runs, int vocab,
                            const JobContext& job = null_job());

}  // namespace mixq::eval
