// SPDX-License-Identifier: MIT
// ComputeBackend: one kind of device that runs models — the CPU engine (core/backend/cpu) or the CUDA backend
// (gpu/cuda_backend.h) — with the devices it can use and their memory, and what scoring and evaluation ask of it.
// Each backend is registered once at start-up (register_backend, by the executables and the test harness); scoring
// (score::score_model_on, which runs the one scoring driver on the backend's ScoringEngine) and evaluation (eval::run_evaluation) pick one with select_backend, so core never
// depends on gpu/. The scoring and evaluation types are only declared here: this module sits below them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/language_model.h"
#include "core/io/model.h"

namespace mixq::score {
struct CalibrationSet;
struct ScoreOptions;
class ScoringEngine;
}  // namespace mixq::score
namespace mixq::plan {
struct Plan;
}
namespace mixq::eval {
class DecoderSession;
}

namespace mixq::backend {

/// One device of a backend.
struct Device {
    std::string backend;       ///< "cpu", "cuda"
    int index = 0;             ///< within its backend
    std::string name;          ///< "NVIDIA H200", the CPU's model name
    uint64_t total_bytes = 0;  ///< its memory (the host's RAM for the CPU)
    uint64_t free_bytes = 0;   ///< free now (available RAM for the CPU)
    std::string id() const;        ///< "cpu" or "cuda:0"
    std::string describe() const;  ///< "cuda:0 (NVIDIA H200)", "cpu (AMD EPYC 7B13)"
};

using LogFn = std::function<void(const std::string&)>;

class ComputeBackend {
public:
    virtual ~ComputeBackend() = default;
    /// "cpu" or "cuda": the value of --device that names it.
    virtual std::string name() const = 0;
    /// The devices it can use now, first the one it runs on; empty with *why set when none can be used
    /// ("CUDA unavailable: no CUDA driver").
    virtual std::vector<Device> devices(std::string* why = nullptr) const = 0;
    bool usable(std::string* why = nullptr) const { return !devices(why).empty(); }
    /// The first device's describe(), or name() when there is none.
    std::string device_name() const;

    /// The scoring building blocks on the first device (score/scoring_engine.h), for the one scoring driver
    /// (score::run_scoring) to score `model` with; `calib`, `opt` and `job` outlive the engine.
    virtual std::unique_ptr<score::ScoringEngine> scoring_engine(std::shared_ptr<const io::Model> model,
                                                                 const score::CalibrationSet& calib,
                                                                 const score::ScoreOptions& opt,
                                                                 const JobContext& job) const = 0;
    /// A model folder as a LanguageModel on the first device (`log`: one line per event, e.g. the memory mode).
    virtual std::unique_ptr<engine::LanguageModel> open_model(std::shared_ptr<const io::Model> model,
                                                              const LogFn& log) const = 0;
    /// True when speed_session builds the deployment decoder (the evaluator's speed task on this backend).
    virtual bool has_speed_session() const { return false; }
    /// The speed task's decoder, as deployed: weights dense (plan null) or quantized per `plan` (an export's
    /// mixq_plan.json applied to its source model). Only where has_speed_session().
    virtual std::unique_ptr<eval::DecoderSession> speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan,
                                               int capacity, const LogFn& log) const = 0;
};

/// Registers `backend` (replacing one of the same name). Call at start-up, before any scoring or evaluation.
void register_backend(std::shared_ptr<const ComputeBackend> backend);
/// Removes the backend named `name` (tests).
void unregister_backend(const std::string& name);
/// The registered backends in registration order.
std::vector<std::shared_ptr<const ComputeBackend>> backends();
/// The backend named `name`, or null.
std::shared_ptr<const ComputeBackend> find_backend(const std::string& name);
/// True when a backend other than the CPU is registered and has a device; otherwise false with the reason.
bool accelerator_usable(std::string* why);

/// Where `device` runs: "cpu"; "cuda" (fails in one line, `option` naming the setting, when no CUDA backend is
/// registered or usable); "auto" (the first usable accelerator, else the CPU, with the reason an accelerator
/// that is registered cannot be used in *note). Fails when the CPU backend is not registered.
std::shared_ptr<const ComputeBackend> select_backend(const std::string& device, const std::string& option,
                                                     std::string* note);

}  // namespace mixq::backend
