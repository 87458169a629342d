// SPDX-License-Identifier: MIT
// EngineModel: the CPU reference engine (engine::Transformer) as a LanguageModel; sessions own a KVCache and a
// fork copies the filled rows; batches run as one ragged forward.
#pragma once
#include <memory>

#include "core/engine/transformer.h"
#include "core/engine/language_model.h"

namespace mixq::eval {

class EngineModel : public engine::LanguageModel {
public:
    explicit EngineModel(std::shared_ptr<engine::Transformer> tf);
    std::string backend() const override { return "engine"; }
    int vocab_size() const override;
    int context_length() const override;
    std::unique_ptr<engine::LmSession> start(int capacity) override;
    engine::RowMatrix logits(const std::vector<int>& ids) override;
    /// Ragged batches (Transformer::forward_ragged); shared prefixes computed once (engine_batch_forward.cpp).
    std::vector<engine::RowMatrix> logits_batch(const std::vector<engine::BatchSeq>& seqs,
                                                const CancelToken& cancel) override;
    bool batches_natively() const override { return true; }
    bool batches_ragged() const override { return true; }
    uint64_t weight_bytes_per_token() override;
    engine::Transformer& transformer() { return *m_tf; }

private:
    std::shared_ptr<engine::Transformer> m_tf;
};

}  // namespace mixq::eval
