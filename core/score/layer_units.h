// SPDX-License-Identifier: MIT
// A decoder layer's units as the host scorers see them: a member's weight as stored (packed tensors
// re-concatenated; a DenseLinear's fp32 copy, or a HalfLinear's 16-bit weights widened on demand), a layer copy
// with one member replaced, a unit's fused weight, the captured input (tap) of a unit's linear, and the output
// error Σ‖X·ΔWᵀ‖² / Σ‖X·Wᵀ‖² on those inputs.
#pragma once
#include <vector>

#include "core/common/job.h"
#include "core/engine/transformer.h"
#include "core/io/model_layout.h"
#include "core/score/scoring_engine.h"

namespace mixq::score {

/// The weight matrix [N, K] of a unit member as stored in the file (packed tensors re-concatenated).
engine::RowMatrix member_weight(const engine::LayerWeights& w, io::LinearRole role);
/// `w` with one member replaced by `wq` as fp32 DenseLinear (packed tensors split back into their parts); the
/// other linears are shared with `w` as they are (in place or fp32).
void replace_member(engine::LayerWeights& w, io::LinearRole role, const engine::RowMatrix& wq);
/// The fused linear of a unit kind: q|k|v, o, gate|up or down, rows concatenated.
engine::RowMatrix fused_unit_weight(const engine::LayerWeights& w, io::UnitKind kind);
/// The captured input of `kind`'s linear.
const engine::RowMatrix& tap_for(const engine::Transformer::LayerTaps& taps, io::UnitKind kind);

/// Adds ‖X·dwᵀ‖² and ‖X·wᵀ‖² for one input matrix X (dw = w − wq).
void add_output_error(const engine::RowMatrix& x, const engine::RowMatrix& w, const engine::RowMatrix& dw,
                      OutputError& err);
/// The output error of `wq` against `w` over the inputs `xs` (checks cancel before each).
void accumulate_output_error(const std::vector<const engine::RowMatrix*>& xs, const engine::RowMatrix& w,
                             const engine::RowMatrix& wq, OutputError& err, const JobContext& job);

}  // namespace mixq::score
