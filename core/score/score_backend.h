// SPDX-License-Identifier: MIT
// Device choice for scoring: the registered compute backend (core/backend/compute_backend.h) that `device` names —
// the CPU scorer, or an accelerator such as the CUDA scorer from gpu/ — so core never depends on gpu/. "auto" takes
// an accelerator when one can be used and otherwise logs one line and scores on the CPU.
#pragma once
#include <memory>
#include <string>

#include "core/common/job.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"

namespace mixq::score {

/// Scores on `device`: "cpu", "cuda" (fails with a one-line reason when no CUDA backend is registered or usable) or
/// "auto" (the accelerator when usable, else the CPU after the log line "<reason>; scoring on the CPU").
ScoreTable score_model_on(const std::string& device, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job = null_job());

}  // namespace mixq::score
