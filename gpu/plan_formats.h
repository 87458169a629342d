// SPDX-License-Identifier: MIT
// A mixed-precision plan (plan::Plan, e.g. an export's mixq_plan.json) as the CUDA decoder's per-layer formats, so
// the GPU runs the plan's int4 / int8 / 16-bit linears on the MatMulNBits kernels and cuBLAS.
#pragma once
#include "core/plan/plan.h"
#include "gpu/cuda_decoder.h"

namespace mixq::gpu {

/// Sets opt.layer_formats (one entry per decoder layer: qkv, o, gate_up, down from the plan's units; float formats
/// and units the plan lacks stay dense) and opt.lm_head_format (the lm_head or tied_embedding unit). The embedding
/// gather stays dense. Throws mixq::Error when a unit names a layer outside [0, num_layers).
void apply_plan_formats(const plan::Plan& plan, int num_layers, CudaDecoderOptions& opt);

}  // namespace mixq::gpu
