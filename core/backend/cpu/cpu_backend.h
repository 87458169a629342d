// SPDX-License-Identifier: MIT
// CpuBackend: the CPU engine as a ComputeBackend — one device (the host: its CPU model, RAM total and available),
// scoring on score::CpuScoringEngine, model folders as eval::EngineModel. Always there: register_cpu_backend() at
// start-up (the executables; the test harness, tests/register_backends.cpp).
#pragma once
#include "core/backend/compute_backend.h"

namespace mixq::backend {

class CpuBackend : public ComputeBackend {
public:
    std::string name() const override { return "cpu"; }
    std::vector<Device> devices(std::string* why = nullptr) const override;
    std::unique_ptr<score::ScoringEngine> scoring_engine(std::shared_ptr<const io::Model> model,
                                                         const score::CalibrationSet& calib,
                                                         const score::ScoreOptions& opt,
                                                         const JobContext& job) const override;
    std::unique_ptr<engine::LanguageModel> open_model(std::shared_ptr<const io::Model> model,
                                                      const LogFn& log) const override;
    /// Not built: the evaluator times the CPU engine through its LanguageModel (fails if called).
    std::unique_ptr<eval::DecoderSession> speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan, int capacity,
                                       const LogFn& log) const override;
};

/// Registers CpuBackend (idempotent).
void register_cpu_backend();

}  // namespace mixq::backend
