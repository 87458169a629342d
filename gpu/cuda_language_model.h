// SPDX-License-Identifier: MIT
// CudaLanguageModel: the CUDA decoder as an engine::LanguageModel, so the evaluator runs model folders on a GPU.
// One decoder (one KV cache) serves every session: each session keeps its token ids, and feeding it first brings
// the cache to that sequence — truncating to the longest common prefix (exact, no recomputation) and replaying
// the rest — so forks of a shared prompt (the evaluator's choices) reuse the prompt's cache rows.
// fp32 weights and activations: logits agree with the CPU engine to ~1e-5, so accuracy figures do not depend on
// the device.
#pragma once
#include <memory>

#include "core/engine/language_model.h"
#include "core/io/model.h"
#include "gpu/cuda_decoder.h"

namespace mixq::gpu {

class CudaLanguageModel : public engine::LanguageModel {
public:
    /// `opt.max_positions` 0 = min(max_position_embeddings, 4096); its memory mode picks full / low_memory.
    CudaLanguageModel(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt);
    std::string backend() const override { return "cuda-decoder"; }
    int vocab_size() const override;
    int context_length() const override;
    std::unique_ptr<engine::LmSession> start(int capacity) override;
    engine::RowMatrix logits(const std::vector<int>& ids) override;
    uint64_t weight_bytes_per_token() override;

    struct Shared;  ///< the decoder and the ids its cache holds

private:
    std::shared_ptr<Shared> m;
};

/// Options of the evaluator's decoder: fp32 weights and activations, memory mode auto on device 0.
CudaDecoderOptions evaluation_decoder_options();

}  // namespace mixq::gpu
