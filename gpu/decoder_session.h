// SPDX-License-Identifier: MIT
// The decoder a tool should use: an eval::DecoderSession on the CUDA decoder when a device can be used, or on the CPU
// engine otherwise, after the single log line "CUDA unavailable: <reason>; using the CPU path"; and the session
// over a CUDA decoder that the evaluator's GPU speed benchmark shares.
#pragma once
#include <memory>

#include "core/eval/speed_bench.h"
#include "core/io/model.h"
#include "gpu/cuda_decoder.h"

namespace mixq::gpu {

/// A session over `model` with a KV cache of `capacity` positions: feed() appends ids and returns the logits of
/// every fed position [ids, vocab]; reset() starts a new sequence. session.device is "cuda:N" or "cpu".
/// `opt` configures the CUDA decoder (its max_positions is set to capacity); the CPU path runs engine::Transformer.
eval::DecoderSession make_decoder_session(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt, int capacity);

/// A session on an existing CUDA decoder, which it keeps alive: reset() starts a new sequence; feed() returns the
/// logits of every fed position, or of the last one only when `last_only` (a tokens/s benchmark's need).
/// weight_bytes_per_token is the decoder's; device, threads and bandwidth are left to the caller.
eval::DecoderSession cuda_decoder_session(std::shared_ptr<CudaDecoder> dec, bool last_only);

}  // namespace mixq::gpu
