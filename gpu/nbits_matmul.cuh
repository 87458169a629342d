// SPDX-License-Identifier: MIT
// Launcher of the weight-only quantized matmul (W4A16 / W8A16, and fp32 activations) that reads the ORT
// MatMulNBits layout of quant::QuantizedMatrix directly: a GEMV kernel for decode (M ≤ 4 rows per launch) and a
// GEMM tile kernel for prefill (tensor cores via WMMA for F16/BF16 activations, fp32 CUDA cores for F32).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// A quantized [n, k] weight on the device, in the layout of quant::QuantizedMatrix.
struct NBitsMatrix {
    const uint8_t* packed = nullptr;       ///< [n, k_blocks, blob_size] bytes (8-byte aligned; 16 for the fast path)
    const void* scales = nullptr;          ///< [n, k_blocks] in scale_dt
    io::DType scale_dt = io::DType::F16;
    const uint8_t* zero_points = nullptr;  ///< [n, zp_row_bytes] packed like MatMulNBits; null = symmetric (2^(bits−1))
    int64_t n = 0, k = 0;
    int bits = 4;
    int block_size = 128;

    int64_t k_blocks() const { return (k + block_size - 1) / block_size; }
    int64_t blob_size() const { return static_cast<int64_t>(block_size) * bits / 8; }
    int64_t zp_row_bytes() const { return (k_blocks() * bits + 7) / 8; }
};

enum class NBitsKernel { Auto, Gemv, Gemm };

/// y[m, n] = Σ_k x[m, k] · float(q[n, k] − zp[n, k/bs]) · scale[n, k/bs] (+ bias[n]) for m < rows. x: [rows, w.k]
/// contiguous in act_dt (F32, F16, BF16); y: [rows, w.n] contiguous in y_dt, which is act_dt or F32; bias: w.n fp32
/// values or null. Auto picks the GEMV kernel for rows ≤ 4 and the GEMM kernel otherwise (Gemv with more rows runs
/// in chunks of 4). The GEMM kernel with F16/BF16 activations rounds the dequantized weights to act_dt before the
/// tensor-core products (fp32 accumulation); the GEMV kernel and F32 activations dequantize in fp32.
cudaError_t nbits_matmul(const void* x, io::DType act_dt, const NBitsMatrix& w, const float* bias, void* y,
                         io::DType y_dt, int rows, cudaStream_t stream, NBitsKernel kernel = NBitsKernel::Auto);

/// out [w.n, w.k] (row-major, out_dt F32/F16/BF16) = the dequantized weight, (q − zp)·scale computed in fp32 and
/// rounded to out_dt. With a dense GEMM it serves prefill-sized row counts (dequantize once, then cuBLAS).
cudaError_t nbits_dequantize(const NBitsMatrix& w, void* out, io::DType out_dt, cudaStream_t stream);

}  // namespace mixq::gpu
