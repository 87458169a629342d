// SPDX-License-Identifier: MIT
// CpuBackend: the host as a device (/proc/cpuinfo, /proc/meminfo) and the CPU scorer and engine behind the
// ComputeBackend calls.
#include "core/backend/cpu/cpu_backend.h"

#include <fstream>
#include <string>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/eval/engine_model.h"
#include "core/eval/speed_bench.h"
#include "core/score/memory_mode.h"
#include "core/score/cpu_scoring_engine.h"

namespace mixq::backend {
namespace {

/// The value after "key:" in a /proc file's first matching line ("" when absent).
std::string proc_field(const char* file, const std::string& key) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, key.size(), key) == 0) {
            const size_t colon = line.find(':');
            if (colon == std::string::npos) continue;
            const size_t start = line.find_first_not_of(" \t", colon + 1);
            return start == std::string::npos ? std::string() : line.substr(start);
        }
    return {};
}

}  // namespace

std::vector<Device> CpuBackend::devices(std::string* why) const {
    Device d;
    d.backend = "cpu";
    d.name = proc_field("/proc/cpuinfo", "model name");
    const std::string total_kb = proc_field("/proc/meminfo", "MemTotal");
    d.total_bytes = total_kb.empty() ? 0 : std::stoull(total_kb) * 1024;  // "16318460 kB"
    d.free_bytes = score::host_available_memory();
    return {d};
}

std::unique_ptr<score::ScoringEngine> CpuBackend::scoring_engine(std::shared_ptr<const io::Model> model,
                                                                 const score::CalibrationSet& calib,
                                                                 const score::ScoreOptions& opt,
                                                                 const JobContext& job) const {
    return std::make_unique<score::CpuScoringEngine>(std::move(model), calib, opt, job);
}

std::unique_ptr<engine::LanguageModel> CpuBackend::open_model(std::shared_ptr<const io::Model> model,
                                                              const LogFn& log) const {
    engine::EngineOptions eo;
    eo.weights_as_stored = true;  // BF16 / F16 weights computed in place from the mapped file
    return std::make_unique<eval::EngineModel>(std::make_shared<engine::Transformer>(std::move(model), eo));
}

std::unique_ptr<eval::DecoderSession> CpuBackend::speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan,
                                               int capacity, const LogFn& log) const {
    fail("cpu", "the CPU backend has no deployment decoder (the evaluator times its LanguageModel)");
}

void register_cpu_backend() { register_backend(std::make_shared<CpuBackend>()); }

}  // namespace mixq::backend
