// SPDX-License-Identifier: MIT
// The pieces of the second-order (Fisher) sensitivity estimate KL(p ‖ p_q) ≈ ½·Σ F·ΔW²: labels sampled from the
// model's own next-token distributions (so squared gradients estimate the Fisher of the output distribution, not
// of the data), the diagonal-Fisher accumulators of a decoder layer's linears, and the estimate for one ΔW.
#pragma once
#include <cstdint>
#include <vector>

#include "core/engine/layer_backward.h"
#include "core/io/model_layout.h"

namespace mixq::score {

/// d(Σ_t log p(ŷ_t)) / d(logits) = onehot(ŷ_t) − p_t for labels ŷ_t drawn from p_t = exp(logp row t), with a
/// deterministic generator seeded by `seed`. `logp` is [T, V] log-probabilities.
engine::RowMatrix sampled_label_grad(const engine::RowMatrix& logp, uint64_t seed);

/// Σ over (sequence, label sample) of the squared weight gradient (δᵀ·X)² of each linear of one decoder layer:
/// E[g²] summed over a sequence's tokens (label samples of different tokens are independent, so their cross
/// terms vanish in expectation).
struct LayerFisher {
    engine::RowMatrix q, k, v, o, gate, up, down;
    int samples = 0;  ///< label samples per sequence the sums are over (divide by it)
    void add(const engine::LinearGrads& g, const engine::Transformer::LayerTaps& taps);
    /// fisher_kld_sum for a unit member stored as the file stores it (packed qkv / gate_up: the parts' Fisher
    /// matrices in order), without copying them.
    double member_kld_sum(io::LinearRole role, const engine::RowMatrix& w, const engine::RowMatrix& wq) const;
    /// Frees the accumulators of a member once its unit is scored (low_memory keeps one layer's worth at most).
    void release(io::LinearRole role);
};

using ConstRowRef = Eigen::Ref<const engine::RowMatrix>;
/// ½·Σ F·(W − Wq)² / samples: the summed (over tokens) second-order KL of one weight change.
double fisher_kld_sum(const ConstRowRef& fisher, int samples, const ConstRowRef& w, const ConstRowRef& wq);

}  // namespace mixq::score
