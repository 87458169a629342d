// SPDX-License-Identifier: MIT
// cuBLAS, loaded on first use with dlopen: linking libcublas pulls in the 540 MB libcublasLt at process start
// (~0.4 s and ~220 MB RSS before main, measured with an empty program), which every CLI call and the GUI would pay
// even when no GPU is used. The wrappers take the cuBLAS v2 signatures; when the library cannot be loaded they
// return CUBLAS_STATUS_NOT_INITIALIZED and cublas_load_error() says why.
#pragma once
#include <cublas_v2.h>

#include <string>

namespace mixq::gpu {

/// True once libcublas is loaded (loads it on the first call); false with the reason in cublas_load_error().
bool cublas_loaded();
std::string cublas_load_error();

cublasStatus_t cublas_create(cublasHandle_t* handle);
cublasStatus_t cublas_destroy(cublasHandle_t handle);
cublasStatus_t cublas_set_stream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublas_gemm_ex(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const void* alpha, const void* a, cudaDataType_t at, int lda, const void* b,
                              cudaDataType_t bt, int ldb, const void* beta, void* c, cudaDataType_t ct, int ldc,
                              cublasComputeType_t compute, cublasGemmAlgo_t algo);
cublasStatus_t cublas_saxpy(cublasHandle_t handle, int n, const float* alpha, const float* x, int incx, float* y,
                            int incy);
cublasStatus_t cublas_snrm2(cublasHandle_t handle, int n, const float* x, int incx, float* result);
const char* cublas_status_name(cublasStatus_t status);

}  // namespace mixq::gpu
