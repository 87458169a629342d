// SPDX-License-Identifier: MIT
// The installed accelerator scorer and the device dispatch of score_model_on.
#include "core/score/score_backend.h"

#include <mutex>

#include "core/common/error.h"

namespace mixq::score {
namespace {
std::mutex g_mutex;
AcceleratorScorer& installed() {
    static AcceleratorScorer b;
    return b;
}
AcceleratorScorer current() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return installed();
}
}  // namespace

void install_accelerator_scorer(AcceleratorScorer backend) {
    std::lock_guard<std::mutex> lock(g_mutex);
    installed() = std::move(backend);
}

std::string accelerator_scorer_name() { return current().name; }

bool accelerator_usable(std::string* why) {
    const AcceleratorScorer b = current();
    if (b.name.empty() || !b.available) {
        if (why) *why = "this build has no GPU scoring backend";
        return false;
    }
    return b.available(why);
}

ScoreTable score_model_on(const std::string& device, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job) {
    if (device != "auto" && device != "cpu" && device != "cuda")
        fail("", "device must be auto, cpu or cuda, got '" + device + "'");
    if (device == "cpu") return score_model(std::move(model), calib, opt, job);
    const AcceleratorScorer b = current();
    if (b.name.empty() || !b.score) {
        if (device == "cuda") fail("--device cuda", "this build has no CUDA backend (built without the CUDA toolkit)");
        return score_model(std::move(model), calib, opt, job);
    }
    std::string why;
    if (!b.available(&why)) {
        if (device == "cuda") fail("--device cuda", why);
        job.log(why + "; scoring on the CPU");
        return score_model(std::move(model), calib, opt, job);
    }
    if (opt.mode == "fast" && opt.fast_estimator == "fisher") {  // no CUDA kernels for it yet (issue 21)
        if (device == "cuda") job.log("the CUDA scorer has no Fisher estimate yet; the fast estimate runs on the CPU");
        return score_model(std::move(model), calib, opt, job);
    }
    return b.score(std::move(model), calib, opt, job);
}

}  // namespace mixq::score
