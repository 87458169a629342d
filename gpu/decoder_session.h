// SPDX-License-Identifier: MIT
// The decoder a tool should use: an eval::DecoderSession on the CUDA decoder when a device can be used, or on the CPU
// engine otherwise, after the single log line "CUDA unavailable: <reason>; using the CPU path".
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

}  // namespace mixq::gpu
