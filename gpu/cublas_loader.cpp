// SPDX-License-Identifier: MIT
// dlopen of libcublas.so.<major> (then libcublas.so, then the toolkit's library folder) once per process, and the function table behind the wrappers.
#include "gpu/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>

namespace mixq::gpu {
namespace {

struct Api {
    decltype(&::cublasCreate_v2) create = nullptr;
    decltype(&::cublasDestroy_v2) destroy = nullptr;
    decltype(&::cublasSetStream_v2) set_stream = nullptr;
    // cublasGemmEx is overloaded in C++ (a cudaDataType_t compute-type variant), so its C signature is spelled out.
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                              const void*, cudaDataType_t, int, const void*, cudaDataType_t, int, const void*, void*,
                              cudaDataType_t, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
    decltype(&::cublasSaxpy_v2) saxpy = nullptr;
    decltype(&::cublasSnrm2_v2) snrm2 = nullptr;
    decltype(&::cublasGetStatusName) status_name = nullptr;
    std::string error;
    bool ok = false;
};

template <class F>
bool bind(void* lib, const char* name, F& f, std::string& error) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    if (!f && error.empty()) error = std::string("libcublas has no ") + name;
    return f != nullptr;
}

const Api& api() {
    static Api a;
    static std::once_flag once;
    std::call_once(once, [] {
        const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
        void* lib = dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) lib = dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
#ifdef MIXQ_CUDA_LIBRARY_DIR
        if (!lib) lib = dlopen((std::string(MIXQ_CUDA_LIBRARY_DIR) + "/" + versioned).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
        if (!lib) {
            const char* e = dlerror();
            a.error = "cannot load " + versioned + (e ? std::string(": ") + e : std::string());
            return;
        }
        bool ok = bind(lib, "cublasCreate_v2", a.create, a.error);
        ok &= bind(lib, "cublasDestroy_v2", a.destroy, a.error);
        ok &= bind(lib, "cublasSetStream_v2", a.set_stream, a.error);
        ok &= bind(lib, "cublasGemmEx", a.gemm_ex, a.error);
        ok &= bind(lib, "cublasSaxpy_v2", a.saxpy, a.error);
        ok &= bind(lib, "cublasSnrm2_v2", a.snrm2, a.error);
        ok &= bind(lib, "cublasGetStatusName", a.status_name, a.error);
        a.ok = ok;
    });
    return a;
}

}  // namespace

bool cublas_loaded() { return api().ok; }
std::string cublas_load_error() { return api().error; }

cublasStatus_t cublas_create(cublasHandle_t* handle) {
    return api().ok ? api().create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublas_destroy(cublasHandle_t handle) {
    return api().ok ? api().destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublas_set_stream(cublasHandle_t handle, cudaStream_t stream) {
    return api().ok ? api().set_stream(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublas_gemm_ex(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const void* alpha, const void* a, cudaDataType_t at, int lda, const void* b,
                              cudaDataType_t bt, int ldb, const void* beta, void* c, cudaDataType_t ct, int ldc,
                              cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    if (!api().ok) return CUBLAS_STATUS_NOT_INITIALIZED;
    return api().gemm_ex(handle, ta, tb, m, n, k, alpha, a, at, lda, b, bt, ldb, beta, c, ct, ldc, compute, algo);
}
cublasStatus_t cublas_saxpy(cublasHandle_t handle, int n, const float* alpha, const float* x, int incx, float* y,
                            int incy) {
    return api().ok ? api().saxpy(handle, n, alpha, x, incx, y, incy) : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublas_snrm2(cublasHandle_t handle, int n, const float* x, int incx, float* result) {
    return api().ok ? api().snrm2(handle, n, x, incx, result) : CUBLAS_STATUS_NOT_INITIALIZED;
}
const char* cublas_status_name(cublasStatus_t status) {
    return api().ok ? api().status_name(status) : "CUBLAS_STATUS_NOT_INITIALIZED";
}

}  // namespace mixq::gpu
