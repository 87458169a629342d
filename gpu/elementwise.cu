// SPDX-License-Identifier: MIT
// Embedding gather, bias add and conversion kernels (grid-stride loops).
#include "gpu/elementwise.cuh"
#include "gpu/kernel_common.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

template <class T>
__global__ void embed_kernel(const T* __restrict__ table, const int* __restrict__ ids, int64_t total, int cols,
                             float* __restrict__ out) {
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = idx / cols;
        const int c = static_cast<int>(idx % cols);
        out[idx] = to_f32(table[static_cast<int64_t>(ids[r]) * cols + c]);
    }
}

template <class T>
__global__ void bias_kernel(T* y, const float* __restrict__ bias, int64_t total, int cols, int64_t stride) {
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = idx / cols;
        const int c = static_cast<int>(idx % cols);
        T& v = y[r * stride + c];
        v = from_f32<T>(to_f32(v) + bias[c]);
    }
}

template <class TS, class TD>
__global__ void convert_kernel(const TS* __restrict__ src, TD* __restrict__ dst, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        dst[i] = from_f32<TD>(to_f32(src[i]));
}

}  // namespace

cudaError_t embed_rows(const void* table, io::DType table_dt, const int* ids, int rows, int cols, float* out,
                       cudaStream_t stream) {
    if (rows == 0) return cudaSuccess;
    if (!table || !ids || !out || rows < 0 || cols <= 0) return cudaErrorInvalidValue;
    const int64_t total = static_cast<int64_t>(rows) * cols;
    return dispatch_dtype(table_dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        embed_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(static_cast<const T*>(table), ids, total, cols, out);
        return launch_status();
    });
}

cudaError_t add_bias(void* y, io::DType dt, const float* bias, int rows, int cols, int64_t stride,
                     cudaStream_t stream) {
    if (rows == 0 || cols == 0) return cudaSuccess;
    if (!y || !bias || rows < 0 || cols < 0 || stride < cols) return cudaErrorInvalidValue;
    const int64_t total = static_cast<int64_t>(rows) * cols;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        bias_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(static_cast<T*>(y), bias, total, cols, stride);
        return launch_status();
    });
}

cudaError_t convert(const void* src, io::DType src_dt, void* dst, io::DType dst_dt, int64_t n, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (!src || !dst || n < 0) return cudaErrorInvalidValue;
    return dispatch_dtype(src_dt, [&](auto ts) {
        using TS = typename decltype(ts)::type;
        return dispatch_dtype(dst_dt, [&](auto td) {
            using TD = typename decltype(td)::type;
            convert_kernel<TS, TD><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const TS*>(src),
                                                                        static_cast<TD*>(dst), n);
            return launch_status();
        });
    });
}

namespace {
__global__ void kv_store_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ cache, int64_t bytes, int pos,
                                const int* __restrict__ pos_dev, bool words) {
    const int p = pos_dev ? *pos_dev : pos;
    uint8_t* dst = cache + static_cast<int64_t>(p) * bytes;
    if (words) {
        for (int64_t i = threadIdx.x + static_cast<int64_t>(blockIdx.x) * blockDim.x; i < bytes / 4;
             i += static_cast<int64_t>(gridDim.x) * blockDim.x)
            reinterpret_cast<uint32_t*>(dst)[i] = reinterpret_cast<const uint32_t*>(src)[i];
    } else {
        for (int64_t i = threadIdx.x + static_cast<int64_t>(blockIdx.x) * blockDim.x; i < bytes;
             i += static_cast<int64_t>(gridDim.x) * blockDim.x)
            dst[i] = src[i];
    }
}
}  // namespace

cudaError_t kv_store(const void* src, void* cache, int64_t bytes, int pos, const int* pos_dev, cudaStream_t stream) {
    if (bytes == 0) return cudaSuccess;
    if (!src || !cache || bytes < 0 || pos < 0) return cudaErrorInvalidValue;
    const bool words = bytes % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 4 == 0 &&
                       reinterpret_cast<uintptr_t>(cache) % 4 == 0;
    const int threads = 256;
    kv_store_kernel<<<grid_for(words ? bytes / 4 : bytes, threads), threads, 0, stream>>>(
        static_cast<const uint8_t*>(src), static_cast<uint8_t*>(cache), bytes, pos, pos_dev, words);
    return launch_status();
}

}  // namespace mixq::gpu
