// SPDX-License-Identifier: MIT
// `mixq devices [--json]`: compute devices this build can use (the CPU always; CUDA GPUs when built with CUDA): every
// registered compute backend's devices with their memory, the CPU's OpenMP threads and each GPU's details.
#include <omp.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli/cli_command.h"
#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/common/omp_wait.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/device_info.h"
#endif

namespace mixq::cli {
namespace {

int run_devices(const Args& args) {
    args.allow_only({"--json"});
    nlohmann::json j;
    j["cpu"] = {{"threads", std::thread::hardware_concurrency()}, {"omp_wait_policy", omp_wait_policy()},
                {"omp_threads", omp_get_max_threads()}};
    nlohmann::json gpus = nlohmann::json::array();
    std::string why = "built without CUDA";
#ifdef MIXQ_WITH_CUDA
    why.clear();
    for (const auto& d : gpu::list_devices(&why))
        gpus.push_back({{"index", d.index}, {"name", d.name}, {"compute_capability", std::to_string(d.cc_major) + "." +
                                                                                         std::to_string(d.cc_minor)},
                        {"free_bytes", d.free_bytes}, {"total_bytes", d.total_bytes}, {"multiprocessors", d.multiprocessors}});
#endif
    j["cuda"] = gpus;
    if (gpus.empty()) j["cuda_unavailable_reason"] = why;
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& b : backend::backends())
        for (const auto& d : b->devices())
            devices.push_back({{"backend", d.backend}, {"id", d.id()}, {"name", d.name}, {"total_bytes", d.total_bytes},
                               {"free_bytes", d.free_bytes}});
    j["devices"] = devices;
    if (args.has("--json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "cpu: " << std::thread::hardware_concurrency() << " threads, OpenMP wait policy " << omp_wait_policy() << ", " << omp_get_max_threads()
              << " OpenMP threads (the free cores at start-up)\n";
    for (const auto& d : devices)
        if (d["backend"] == "cpu")
            std::cout << "cpu memory: " << d["free_bytes"].get<uint64_t>() / (1 << 20) << " / "
                      << d["total_bytes"].get<uint64_t>() / (1 << 20) << " MiB available ("
                      << d["name"].get<std::string>() << ")\n";
    if (gpus.empty()) std::cout << "cuda: none (" << why << "); the CPU path is used\n";
    for (const auto& g : gpus)
        std::cout << "cuda:" << g["index"] << " " << g["name"].get<std::string>() << " (sm "
                  << g["compute_capability"].get<std::string>() << ", "
                  << g["free_bytes"].get<uint64_t>() / (1 << 20) << " / " << g["total_bytes"].get<uint64_t>() / (1 << 20)
                  << " MiB free)\n";
    return 0;
}

CommandRegistrar reg({"devices", "mixq devices [--json]", "Lists the CPU and the CUDA devices this build can use.",
                      {"--json"}, run_devices});

}  // namespace
}  // namespace mixq::cli
