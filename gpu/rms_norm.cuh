// SPDX-License-Identifier: MIT
// Launchers of the fused RMSNorm kernels (fp32 math as Hugging Face: x * rsqrt(mean(x²) + eps) * weight).
// Raw device pointers, sizes and a stream; return the launch status (cudaErrorInvalidValue for bad arguments).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// y[r] = rms_norm(x[r]) * weight for `rows` rows of `cols` values. Row r starts at element
/// (r / rows_per_group) * group_stride + (r % rows_per_group) * cols of x and of y, so per-head norms of a fused
/// [T, heads·d | ...] buffer are rows = T·heads, cols = d, rows_per_group = heads, group_stride = row width.
/// Plain contiguous rows: rows_per_group = 1, group_stride = cols (or 0, which means cols).
/// weight: `cols` fp32 values on the device. In place (x == y) is allowed when x_dt == y_dt.
cudaError_t rms_norm(const void* x, io::DType x_dt, const float* weight, void* y, io::DType y_dt, int rows, int cols,
                     float eps, cudaStream_t stream, int rows_per_group = 1, int64_t group_stride = 0);

/// Fused residual update and norm on contiguous rows: residual[r] += delta[r] (fp32 residual stream, delta in
/// delta_dt), then, when y is not null, y[r] = rms_norm(residual[r]) * weight (y in y_dt). delta may be null
/// (norm only).
cudaError_t add_rms_norm(float* residual, const void* delta, io::DType delta_dt, const float* weight, void* y,
                         io::DType y_dt, int rows, int cols, float eps, cudaStream_t stream);

}  // namespace mixq::gpu
