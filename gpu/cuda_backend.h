// SPDX-License-Identifier: MIT
// CudaBackend: the CUDA devices as a ComputeBackend (core/backend/compute_backend.h) — devices with their memory
// (gpu::list_devices), the CUDA scoring engine for the one scoring driver (make_cuda_scoring_engine: device 0
// first, every device for multi_gpu), model folders on the CUDA decoder in fp32 (CudaLanguageModel, device 0), and the speed task's deployment
// decoder (BF16 activations, an export's plan on the MatMulNBits kernels). Registered once at start-up by the
// executables (register_cuda_backend); usable only where a driver and a device are present.
#pragma once
#include "core/backend/compute_backend.h"

namespace mixq::gpu {

class CudaBackend : public backend::ComputeBackend {
public:
    std::string name() const override { return "cuda"; }
    std::vector<backend::Device> devices(std::string* why = nullptr) const override;
    std::unique_ptr<score::ScoringEngine> scoring_engine(std::shared_ptr<const io::Model> model,
                                                         const score::CalibrationSet& calib,
                                                         const score::ScoreOptions& opt,
                                                         const JobContext& job) const override;
    std::unique_ptr<engine::LanguageModel> open_model(std::shared_ptr<const io::Model> model,
                                                      const backend::LogFn& log) const override;
    bool has_speed_session() const override { return true; }
    std::unique_ptr<eval::DecoderSession> speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan, int capacity,
                                       const backend::LogFn& log) const override;
};

/// Registers CudaBackend (idempotent).
void register_cuda_backend();

}  // namespace mixq::gpu
