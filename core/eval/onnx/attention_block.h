// SPDX-License-Identifier: MIT
// The inner loops of GroupQueryAttention (ops_attention.cpp): a block of query rows against one KV head as two
// GEMMs (scores = Q·Kᵀ over the block's key range, out = P·V), each row masked to its own key range [start, end)
// (causal, local window, padding), and a vectorized softmax. A prefill block (~64 rows) reads its keys once instead of
// once per query as per-query GEMVs did; decode puts the query heads sharing a KV head in one block.
#pragma once
#include <cstdint>
#include <vector>

namespace mixq::eval::onnx {

struct AttentionParams {
    int64_t D = 0;           ///< head size
    float scale = 1.0f;      ///< applied to Q·K before the softcap
    float softcap = 0.0f;    ///< > 0: s = softcap · tanh(s / softcap)
    bool smooth = false;     ///< smooth softmax: an extra exp(0 − max) term in the sum, max at least 0
};

/// Scratch reused across calls on one thread.
struct AttentionScratch {
    std::vector<float> scores, inv_sum;
};

/// For r < rows: out[r] = softmax(scale · Q[r]·K[j]ᵀ, j in [start[r], end[r])) · V[start..end) (D floats; zeros when
/// the range is empty). Q and out are rows × D, contiguous; K and V are one head's keys and values, [positions, D].
/// The block computes scores over the union of the rows' ranges, so rows should be close in position (a block of
/// consecutive queries).
void attend_rows(const float* Q, int64_t rows, const int64_t* start, const int64_t* end, const float* K,
                 const float* V, const AttentionParams& p, AttentionScratch& scratch, float* out);

}  // namespace mixq::eval::onnx
