// SPDX-License-Identifier: MIT
// Dense GEMM through cuBLAS for the unquantized (reference) pass: y = x·Wᵀ with row-major x [M, K] and W [N, K]
// (PyTorch Linear layout), fp32 accumulation; F16/BF16 inputs run on tensor cores, F32 stays full fp32 (no TF32).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// A cuBLAS handle on the device current at construction (RAII; throws mixq::Error when cuBLAS cannot start).
class CublasHandle {
public:
    CublasHandle();
    ~CublasHandle();
    CublasHandle(const CublasHandle&) = delete;
    CublasHandle& operator=(const CublasHandle&) = delete;
    cublasHandle_t get() const { return m_h; }

private:
    cublasHandle_t m_h = nullptr;
};

/// y[m, n] = Σ_k x[m, k]·w[n, k] (+ beta·y) on `stream`. x and w share in_dt (F32, F16, BF16); y_dt is in_dt or
/// F32. All row-major and contiguous. Returns the cuBLAS status (CUBLAS_STATUS_INVALID_VALUE for bad arguments).
cublasStatus_t gemm_wt(cublasHandle_t handle, const void* x, const void* w, io::DType in_dt, void* y, io::DType y_dt,
                       int m, int n, int k, cudaStream_t stream, float beta = 0.0f);

/// Throws mixq::Error "<where>: cuBLAS <status name>" unless st is CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t st, const std::string& where);

}  // namespace mixq::gpu
