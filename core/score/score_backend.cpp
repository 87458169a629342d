// SPDX-License-Identifier: MIT
// score_model_on: the backend that `device` selects scores the model.
#include "core/score/score_backend.h"

#include "core/backend/compute_backend.h"

namespace mixq::score {

ScoreTable score_model_on(const std::string& device, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job) {
    std::string note;
    const auto b = backend::select_backend(device, "--device", &note);
    if (!note.empty()) job.log(note + "; scoring on the CPU");
    if (b->name() != "cpu" && opt.mode == "fast" && opt.fast_estimator == "fisher") {  // no CUDA kernels yet (issue 21)
        job.log("the " + b->name() + " scorer has no Fisher estimate yet; the fast estimate runs on the CPU");
        return score_model(std::move(model), calib, opt, job);
    }
    return b->score(std::move(model), calib, opt, job);
}

}  // namespace mixq::score
