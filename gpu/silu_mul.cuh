// SPDX-License-Identifier: MIT
// Launcher of the SiLU-gated product of the MLP: out = silu(gate) · up, fp32 math.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// out[r, c] = gate[r, c] / (1 + exp(−gate[r, c])) · up[r, c] for `rows` rows of `cols` values; gate and up rows
/// start at r·in_stride, out rows at r·out_stride (all in elements of dt). For a fused gate|up buffer
/// [rows, 2I]: gate = buf, up = buf + I, in_stride = 2I, cols = I. out may alias gate (same stride).
cudaError_t silu_mul(const void* gate, const void* up, int64_t in_stride, void* out, int64_t out_stride, int rows,
                     int cols, io::DType dt, cudaStream_t stream);

}  // namespace mixq::gpu
