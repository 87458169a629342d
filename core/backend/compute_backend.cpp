// SPDX-License-Identifier: MIT
// The registry of compute backends and the device choice of select_backend.
#include "core/backend/compute_backend.h"

#include <mutex>

#include "core/common/error.h"

namespace mixq::backend {
namespace {
std::mutex g_mutex;
std::vector<std::shared_ptr<const ComputeBackend>>& registry() {
    static std::vector<std::shared_ptr<const ComputeBackend>> r;
    return r;
}
}  // namespace

std::string Device::id() const { return backend == "cpu" ? backend : backend + ":" + std::to_string(index); }

std::string Device::describe() const { return name.empty() ? id() : id() + " (" + name + ")"; }

std::string ComputeBackend::device_name() const {
    const auto devs = devices();
    return devs.empty() ? name() : devs.front().describe();
}

void register_backend(std::shared_ptr<const ComputeBackend> backend) {
    if (!backend) return;
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto& b : registry())
        if (b->name() == backend->name()) {
            b = std::move(backend);
            return;
        }
    registry().push_back(std::move(backend));
}

void unregister_backend(const std::string& name) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::erase_if(registry(), [&](const auto& b) { return b->name() == name; });
}

std::vector<std::shared_ptr<const ComputeBackend>> backends() {
    std::lock_guard<std::mutex> lock(g_mutex);
    return registry();
}

std::shared_ptr<const ComputeBackend> find_backend(const std::string& name) {
    for (auto& b : backends())
        if (b->name() == name) return b;
    return nullptr;
}

bool accelerator_usable(std::string* why) {
    std::string reason = "this build has no GPU backend";
    for (const auto& b : backends()) {
        if (b->name() == "cpu") continue;
        if (b->usable(&reason)) return true;
    }
    if (why) *why = reason;
    return false;
}

std::shared_ptr<const ComputeBackend> select_backend(const std::string& device, const std::string& option,
                                                     std::string* note) {
    if (device != "auto" && device != "cpu" && device != "cuda" && !find_backend(device))
        fail("", option + " must be auto, cpu or cuda, got '" + device + "'");
    auto cpu = find_backend("cpu");
    if (!cpu) fail(option, "no CPU backend registered (call backend::register_cpu_backend() at start-up)");
    if (device == "cpu") return cpu;
    if (device != "auto") {
        auto b = find_backend(device);
        if (!b) fail(option + " " + device, "this build has no CUDA backend (built without the CUDA toolkit)");
        std::string why;
        if (!b->usable(&why)) fail(option + " " + device, why);
        return b;
    }
    for (const auto& b : backends()) {
        if (b->name() == "cpu") continue;
        std::string why;
        if (b->usable(&why)) return b;
        if (note && note->empty()) *note = why;
    }
    return cpu;
}

}  // namespace mixq::backend
