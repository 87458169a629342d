// SPDX-License-Identifier: MIT
// Launcher of the rotary position embedding kernel (Hugging Face rotate_half layout, angles from the host's
// inverse frequencies, engine::Rope::inv_freq()).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// Rotates, in place, `n_heads` heads of width head_dim in each of `rows` rows of x; row t starts at element
/// t·row_stride and is at position pos0 + t. For i < head_dim/2: (a, b) = (v[i], v[i + d/2]) becomes
/// (a·cos − b·sin, b·cos + a·sin) with angle float(pos0 + t)·inv_freq[i] (fp32, as HF). inv_freq: head_dim/2
/// fp32 values on the device. head_dim must be even. pos_dev (device int, or null): read pos0 from there at run time
/// instead (a captured CUDA graph replayed at every decode position).
cudaError_t rope(void* x, io::DType dt, int rows, int n_heads, int head_dim, int64_t row_stride, int pos0,
                 const float* inv_freq, cudaStream_t stream, const int* pos_dev = nullptr);

}  // namespace mixq::gpu
