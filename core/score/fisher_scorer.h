// SPDX-License-Identifier: MIT
// The fast mode's Fisher estimate: one reference forward pass with cached layer inputs, then per calibration
// sequence and label sample (labels drawn from the model itself) one backward pass, layer by layer from the top,
// accumulating the diagonal Fisher of each layer's linears; each (unit, candidate) is then scored as
// ½·Σ F·ΔW² per token without running the model on the quantized weights. The lm_head's variants are exact
// (their KL costs one head product each); embedding rows get the Fisher of the residual stream they enter.
#pragma once
#include "core/score/scorer.h"

namespace mixq::score {

/// Scores every unit with the Fisher estimate (ScoreOptions::fisher_samples label samples per sequence, the first
/// fast_max_sequences calibration sequences). Same errors, cancellation and table layout as score_model.
ScoreTable score_model_fisher(std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                              const ScoreOptions& opt, const JobContext& job = null_job());

}  // namespace mixq::score
