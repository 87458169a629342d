// SPDX-License-Identifier: MIT
// Device measurements for `mixq bench-gpu`: device-to-device copy bandwidth (the HBM bound of decode) and cuBLAS
// GEMM throughput (the bound of prefill), both timed with CUDA events on the current device.
#pragma once
#include <cstddef>

#include "core/io/dtype.h"
#include "core/quant/quant_format.h"

namespace mixq::gpu {

/// Bytes moved per second by cudaMemcpyAsync device-to-device of a `bytes` buffer (each copy reads and writes
/// `bytes`, so this is 2·bytes / time), best of `repeats` after a warm-up copy.
double measure_d2d_bandwidth(size_t bytes = size_t(1) << 30, int repeats = 10);

/// Bytes per second of cudaMemcpyAsync from pinned host memory to the device (the bound of low_memory streaming),
/// best of `repeats` after a warm-up copy.
double measure_h2d_bandwidth(size_t bytes = size_t(256) << 20, int repeats = 5);

/// Seconds per y[m, n] = x[m, k]·w[n, k]ᵀ through cuBLAS (gemm_wt) in dtype dt with fp32 accumulation, best of
/// `repeats` after a warm-up (random-free: buffers are zero-filled; the time does not depend on values).
double measure_gemm_seconds(int m, int n, int k, io::DType dt, int repeats = 10);

/// Seconds of one decode-shaped linear y[1, n] = x[1, k]·Wᵀ with BF16 activations, W in format f (MatMulNBits
/// kernel) or dense BF16 when f is a float format (cuBLAS): the kernel alone, without the decoder's other launches.
/// Best of `repeats` batches of 20 back-to-back launches, divided by 20. Zero-filled buffers.
double measure_linear_decode_seconds(int n, int k, const quant::QuantFormat& f, int repeats = 5);

}  // namespace mixq::gpu
