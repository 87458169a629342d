// SPDX-License-Identifier: MIT
// The one scoring driver: prepare_scoring's setup, the memory decision and the reference pass, then every unit's
// candidates scored on a ScoringEngine (scoring_engine.h) — exact (each variant carried through the rest of the
// model) or fast (the layer's output change carried unchanged to the final residual stream) — with the scores,
// progress accounting and cancel kept here, whichever backend (CPU engine, CUDA decoder) computes.
#pragma once
#include <memory>
#include <string>

#include "core/common/job.h"
#include "core/engine/tensor.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"
#include "core/score/scoring_engine.h"
#include "core/score/scoring_progress.h"

namespace mixq::score {

/// The setup every scorer shares (this driver, the Fisher estimate): prepare_scoring, the memory mode chosen
/// from the engine's devices (logged, reported through ScoreOptions::on_placement; multi_gpu refused where the
/// engine cannot run it), the rotation, engine.open(), and the table's memory mode, reason and device.
ScoringSetup open_scoring(ScoringEngine& engine, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job);

/// The reference pass on `engine`: every sequence embedded, then layer by layer (one progress unit per layer and
/// sequence), then engine.end_reference().
void run_reference_pass(ScoringEngine& engine, const ScoringSetup& setup, int num_layers, ScoringProgress& progress);

/// Scores every unit of `model` on `engine` (ScoreOptions::mode "exact", or "fast" with the residual shortcut).
/// Throws mixq::Cancelled when the job is cancelled, mixq::Error on bad input or non-finite scores.
ScoreTable run_scoring(ScoringEngine& engine, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                       const ScoreOptions& opt, const JobContext& job);

/// quant::fake_quantize, its errors (e.g. NaN/Inf weights) reported as "<what>: <error>" against the model folder.
engine::RowMatrix quantize_for_scoring(const io::Model& model, const std::string& what, const engine::RowMatrix& w,
                                       const quant::QuantFormat& format, io::DType scale_dtype,
                                       const float* importance, const JobContext& job);

}  // namespace mixq::score
