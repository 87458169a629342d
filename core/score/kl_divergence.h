// SPDX-License-Identifier: MIT
// KL(p ‖ q) between next-token distributions given as logits, per token, computed in double from a stable
// log-softmax of each row.
#pragma once
#include "core/engine/tensor.h"

namespace mixq::score {

/// Row-wise stable log-softmax ([T, V]), computed in double and stored as fp32.
engine::RowMatrix log_softmax(const engine::RowMatrix& logits);
/// Σ_t KL(p_t ‖ q_t) for reference log-probs `ref_logp` ([T, V], from log_softmax) and logits of the other model.
double kl_sum(const engine::RowMatrix& ref_logp, const engine::RowMatrix& logits);

}  // namespace mixq::score
