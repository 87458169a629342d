// SPDX-License-Identifier: MIT
// score_model_on: the scoring driver on the ScoringEngine of the backend that `device` selects.
#include "core/score/score_backend.h"

#include "core/backend/compute_backend.h"
#include "core/score/fisher_scorer.h"
#include "core/score/scoring_driver.h"

namespace mixq::score {

ScoreTable score_model_on(const std::string& device, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job) {
    std::string note;
    const auto b = backend::select_backend(device, "--device", &note);
    if (!note.empty()) job.log(note + "; scoring on the CPU");
    if (opt.mode == "fast" && opt.fast_estimator == "fisher") {  // no device kernels for it yet (issue 21)
        if (b->name() != "cpu")
            job.log("the " + b->name() + " scorer has no Fisher estimate yet; the fast estimate runs on the CPU");
        return score_model_fisher(std::move(model), calib, opt, job);
    }
    const auto engine = b->scoring_engine(model, calib, opt, job);
    return run_scoring(*engine, std::move(model), calib, opt, job);
}

}  // namespace mixq::score
