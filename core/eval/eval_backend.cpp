// SPDX-License-Identifier: MIT
// The installed accelerator LanguageModel backend and the device resolution of run_evaluation.
#include "core/eval/eval_backend.h"

#include <mutex>

#include "core/common/error.h"

namespace mixq::eval {
namespace {
std::mutex g_mutex;
AcceleratorModelBackend& installed() {
    static AcceleratorModelBackend b;
    return b;
}
AcceleratorModelBackend current() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return installed();
}
}  // namespace

void install_accelerator_model(AcceleratorModelBackend backend) {
    std::lock_guard<std::mutex> lock(g_mutex);
    installed() = std::move(backend);
}

std::string resolve_eval_device(const std::string& device, std::string* note) {
    if (device != "auto" && device != "cpu" && device != "cuda")
        fail("", "--device must be auto, cpu or cuda, got '" + device + "'");
    if (device == "cpu") return "cpu";
    const AcceleratorModelBackend b = current();
    if (b.name.empty() || !b.open || !b.available) {
        if (device == "cuda") fail("--device cuda", "this build has no CUDA backend (built without the CUDA toolkit)");
        return "cpu";  // a CPU-only build: nothing to report
    }
    std::string why;
    if (!b.available(&why)) {
        if (device == "cuda") fail("--device cuda", why);
        if (note) *note = why;
        return "cpu";
    }
    return b.name;
}

std::unique_ptr<engine::LanguageModel> open_on_accelerator(std::shared_ptr<const io::Model> model,
                                                   const std::function<void(const std::string&)>& log) {
    const AcceleratorModelBackend b = current();
    if (!b.open) fail("evaluation", "no accelerator backend installed");
    return b.open(std::move(model), log);
}

bool accelerator_has_speed_session() { return static_cast<bool>(current().speed_session); }

DecoderSession accelerator_speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan, int capacity,
                                         const std::function<void(const std::string&)>& log) {
    const AcceleratorModelBackend b = current();
    if (!b.speed_session) fail("evaluation", "the accelerator backend cannot time decoders");
    return b.speed_session(std::move(model), plan, capacity, log);
}

std::string accelerator_device_name() {
    const AcceleratorModelBackend b = current();
    return b.device_name ? b.device_name() : std::string();
}

}  // namespace mixq::eval
