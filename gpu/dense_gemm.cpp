// SPDX-License-Identifier: MIT
// cuBLAS handle and the row-major y = x·Wᵀ mapping onto column-major cublasGemmEx: with x as a K×M and W as a K×N
// column-major matrix, Y (N×M column-major, i.e. row-major [M, N]) = Wᵀ·x, so op(A) = T on W and op(B) = N on x.
#include "gpu/dense_gemm.h"

#include "core/common/error.h"
#include "gpu/cublas_loader.h"

namespace mixq::gpu {

namespace {
cudaDataType_t cuda_type(io::DType t) {
    switch (t) {
        case io::DType::F32: return CUDA_R_32F;
        case io::DType::F16: return CUDA_R_16F;
        case io::DType::BF16: return CUDA_R_16BF;
    }
    return CUDA_R_32F;
}
}  // namespace

void check_cublas(cublasStatus_t st, const std::string& where) {
    if (st == CUBLAS_STATUS_SUCCESS) return;
    if (!cublas_loaded()) fail(where, "cuBLAS unavailable: " + cublas_load_error());
    fail(where, std::string("cuBLAS ") + cublas_status_name(st));
}

CublasHandle::CublasHandle() { check_cublas(cublas_create(&m_h), "cublasCreate"); }

CublasHandle::~CublasHandle() {
    if (m_h) cublas_destroy(m_h);
}

cublasStatus_t gemm_wt(cublasHandle_t handle, const void* x, const void* w, io::DType in_dt, void* y, io::DType y_dt,
                       int m, int n, int k, cudaStream_t stream, float beta) {
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (!handle || !x || !w || !y || m < 0 || n < 0 || k <= 0 || (y_dt != in_dt && y_dt != io::DType::F32))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (cublasStatus_t st = cublas_set_stream(handle, stream); st != CUBLAS_STATUS_SUCCESS) return st;
    const float alpha = 1.0f;
    return cublas_gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, cuda_type(in_dt), k, x, cuda_type(in_dt), k,
                        &beta, y, cuda_type(y_dt), n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

}  // namespace mixq::gpu
