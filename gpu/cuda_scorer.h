// SPDX-License-Identifier: MIT
// The CUDA scoring backend: score::score_model's algorithm (reference pass with cached layer inputs, each unit's
// variants run from its own layer, KL against the reference distribution, relative output error on the layer's
// captured inputs; fast mode adds the layer's output change to the final residual) with every pass on the device.
// fp32 weights and activations, so scores match the CPU scorer's up to summation order. Memory modes: full
// (weights and hidden cache on the device), low_memory (layers streamed from pinned host memory, cache on the
// device), offload (layers streamed, cache in pinned host memory); auto picks from cudaMemGetInfo. multi_gpu is
// refused in one line (one device; the decoder and the evaluator are the multi-GPU users).
#pragma once
#include <memory>

#include "core/common/job.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"

namespace mixq::gpu {

/// Scores every unit of `model` on CUDA device `device`. Throws mixq::Error "CUDA unavailable: ..." when no device
/// can be used (callers check gpu::cuda_available() first), mixq::Cancelled on cancel.
score::ScoreTable score_model_cuda(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                                   const score::ScoreOptions& opt, const JobContext& job = null_job(), int device = 0);

/// Installs score_model_cuda (device 0) as the accelerator scorer of score::score_model_on.
void install_cuda_scorer();

}  // namespace mixq::gpu
