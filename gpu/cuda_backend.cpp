// SPDX-License-Identifier: MIT
// CudaBackend: device enumeration and the CUDA scorer, language model and deployment decoder behind the
// ComputeBackend calls.
#include "gpu/cuda_backend.h"

#include "core/eval/speed_bench.h"
#include "core/plan/plan.h"
#include "core/score/scorer.h"
#include "gpu/cuda_language_model.h"
#include "gpu/cuda_resources.h"
#include "gpu/cuda_scorer.h"
#include "gpu/decoder_session.h"
#include "gpu/device_info.h"
#include "gpu/gpu_bench.h"
#include "gpu/plan_formats.h"

namespace mixq::gpu {

std::vector<backend::Device> CudaBackend::devices(std::string* why) const {
    if (!cuda_available(why, false)) return {};
    std::vector<backend::Device> out;
    for (const auto& d : list_devices(why)) {
        backend::Device b;
        b.backend = "cuda";
        b.index = d.index;
        b.name = d.name;
        b.total_bytes = d.total_bytes;
        b.free_bytes = d.free_bytes;
        out.push_back(b);
    }
    return out;
}

std::unique_ptr<score::ScoringEngine> CudaBackend::scoring_engine(std::shared_ptr<const io::Model> model,
                                                                  const score::CalibrationSet& calib,
                                                                  const score::ScoreOptions& opt,
                                                                  const JobContext& job) const {
    return make_cuda_scoring_engine(std::move(model), calib, opt, job);
}

std::unique_ptr<engine::LanguageModel> CudaBackend::open_model(std::shared_ptr<const io::Model> model,
                                                               const backend::LogFn& log) const {
    CudaDecoderOptions o = evaluation_decoder_options();
    o.log = log;
    return std::make_unique<CudaLanguageModel>(std::move(model), o);
}

std::unique_ptr<eval::DecoderSession> CudaBackend::speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan,
                                                int capacity, const backend::LogFn& log) const {
    CudaDecoderOptions o;
    o.mode = score::MemoryMode::Auto;
    o.weight_dtype = io::DType::BF16;
    o.activation_dtype = io::DType::BF16;
    o.max_positions = capacity;
    o.log = log;
    if (plan) apply_plan_formats(*plan, model->config().num_layers, o);
    // Last-row logits (a tokens/s benchmark's need); the decode bound is the GPU's HBM, not host DRAM.
    return std::make_unique<CudaDecoderSession>(std::make_shared<CudaDecoder>(std::move(model), o), true, device_name(),
                                                true);
}

void register_cuda_backend() { backend::register_backend(std::make_shared<CudaBackend>()); }

}  // namespace mixq::gpu
