// SPDX-License-Identifier: MIT
// Device choice for scoring: the CPU scorer (always there) or an accelerator backend that an executable installs
// at start (the CUDA scorer from gpu/, when built), so core/ never depends on gpu/. "auto" takes the accelerator
// when it can be used and otherwise logs one line and scores on the CPU.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/common/job.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"

namespace mixq::score {

struct AcceleratorScorer {
    std::string name;  ///< "cuda"
    /// True when a device can be used; otherwise false with the reason ("CUDA unavailable: no CUDA driver").
    std::function<bool(std::string* why)> available;
    std::function<ScoreTable(std::shared_ptr<const io::Model>, const CalibrationSet&, const ScoreOptions&,
                             const JobContext&)>
        score;
};

/// Installs (or, with an empty name, removes) the accelerator backend. Call before any scoring starts.
void install_accelerator_scorer(AcceleratorScorer backend);
/// The installed backend's name, or "" when none.
std::string accelerator_scorer_name();
/// True when a backend is installed and a device can be used; otherwise false with the reason.
bool accelerator_usable(std::string* why);

/// Scores on `device`: "cpu", "cuda" (fails with a one-line reason when no CUDA backend is built or usable) or
/// "auto" (the accelerator when usable, else the CPU after the log line "<reason>; scoring on the CPU").
ScoreTable score_model_on(const std::string& device, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job = null_job());

}  // namespace mixq::score
