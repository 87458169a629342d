// SPDX-License-Identifier: MIT
// Transformer::forward_ragged: several sequences as one pass without padding. Their positions are concatenated, so
// each linear reads (and, for in-place BF16/F16 weights, widens) its weights once for all rows; layer_forward keeps
// RoPE and attention per sequence. The lm_head runs only on the rows whose logits are asked for (a loglikelihood
// row needs its last few), which for a long context is most of the head's cost.
#include "core/common/error.h"
#include "core/engine/transformer.h"

namespace mixq::engine {

std::vector<RowMatrix> Transformer::forward_ragged(const std::vector<RaggedSeq>& seqs, const CancelToken* cancel) {
    std::vector<SeqSpan> spans;
    std::vector<int> all;
    for (const auto& s : seqs) {
        const int n = static_cast<int>(s.ids.size());
        if (n == 0) fail("input ids", "empty sequence");
        if (s.logits_from < 0 || s.logits_from > n)
            fail("input ids", "logits wanted from position " + std::to_string(s.logits_from) + " of " +
                                  std::to_string(n) + " new tokens");
        spans.push_back({static_cast<int64_t>(all.size()), n, s.cache ? s.cache->length : 0, s.cache});
        all.insert(all.end(), s.ids.begin(), s.ids.end());
    }
    if (all.empty()) return {};
    RowMatrix h = embed(all);
    for (int l = 0; l < config().num_layers; ++l) {
        if (cancel) cancel->check();
        auto w = layer_weights(l);
        layer_forward(l, *w, h, spans, nullptr);
    }
    for (const auto& sp : spans)
        if (sp.cache) sp.cache->length = sp.pos0 + sp.rows;

    // The asked rows, gathered for one lm_head GEMM; spans over them name each row's position in its sequence.
    std::vector<SeqSpan> head;
    int64_t wanted = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const int n = spans[i].rows - seqs[i].logits_from;
        head.push_back({wanted, n, spans[i].pos0 + seqs[i].logits_from, nullptr});
        wanted += n;
    }
    std::vector<RowMatrix> out(seqs.size(), RowMatrix(0, config().vocab_size));
    if (wanted == 0) return out;
    RowMatrix x(wanted, h.cols());
    for (size_t i = 0; i < seqs.size(); ++i)
        x.middleRows(head[i].row0, head[i].rows) = h.middleRows(spans[i].row0 + seqs[i].logits_from, head[i].rows);
    h.resize(0, 0);
    if (cancel) cancel->check();
    const RowMatrix lg = unchecked_logits(x);
    check_finite(lg, -1, nullptr, head);
    for (size_t i = 0; i < seqs.size(); ++i) out[i] = lg.middleRows(head[i].row0, head[i].rows);
    return out;
}

}  // namespace mixq::engine
