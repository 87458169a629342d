// SPDX-License-Identifier: MIT
// The CUDA scoring engine: the building blocks (core/score/scoring_engine.h) that the one scoring driver
// (score::run_scoring: reference pass with cached layer inputs, each unit's variants run from its own layer, KL
// against the reference distribution, relative output error on the layer's captured inputs; fast mode adds the
// layer's output change to the final residual) asks of a device, with every pass on the CUDA decoder.
// fp32 weights and activations, so scores match the CPU scorer's up to summation order. Memory modes: full
// (weights and hidden cache on the device), low_memory (layers streamed from pinned host memory, cache on the
// device), offload (layers streamed, cache in pinned host memory), multi_gpu (the CUDA decoder's placement: whole
// layers in contiguous ranges per device; each layer's variants run on its device, hidden states move at the part
// boundaries, the cache is in pinned host memory, logits and KL on the last device); auto picks from every device's
// cudaMemGetInfo (score::choose_memory_mode).
#pragma once
#include <memory>
#include <vector>

#include "core/common/job.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"
#include "core/score/scoring_engine.h"

namespace mixq::gpu {

/// Where the CUDA scorer runs.
struct CudaScorerPlacement {
    int device = 0;  ///< full / low_memory / offload, and the first device auto weighs
    /// multi_gpu (and auto's candidates): one entry per part, a device may repeat (its free memory is shared);
    /// empty = `device`, then every other device
    std::vector<int> devices;
    /// multi_gpu: decoder layers per entry of `devices` (sum = num_layers); empty = by free memory
    std::vector<int> layer_split;
};

/// The CUDA scoring engine for `model` (for score::run_scoring). Throws mixq::Error "CUDA unavailable: ..." when
/// no device can be used.
std::unique_ptr<score::ScoringEngine> make_cuda_scoring_engine(std::shared_ptr<const io::Model> model,
                                                              const score::CalibrationSet& calib,
                                                              const score::ScoreOptions& opt, const JobContext& job,
                                                              CudaScorerPlacement where = {});

/// Scores every unit of `model` on CUDA devices (the scoring driver on make_cuda_scoring_engine). Throws mixq::Error "CUDA unavailable: ..." when no device can be
/// used (callers check gpu::cuda_available() first), mixq::Cancelled on cancel.
score::ScoreTable score_model_cuda(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                                   const score::ScoreOptions& opt, const JobContext& job = null_job(),
                                   CudaScorerPlacement where = {});

}  // namespace mixq::gpu
