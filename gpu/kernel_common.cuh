// SPDX-License-Identifier: MIT
// Device-side helpers shared by the kernels (included by gpu/*.cu only): fp32 <-> half/bfloat16 loads and stores,
// warp and block reductions, and the io::DType -> C++ type dispatch used by every launcher.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu::detail {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/// Sum over the whole block (any blockDim.x that is a multiple of 32, up to 1024); every thread gets the result.
/// `shm` is 32 floats of shared memory; the function synchronizes before returning so shm can be reused.
__device__ __forceinline__ float block_sum(float v, float* shm) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int n_warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < n_warps ? shm[lane] : 0.0f;
        t = warp_sum(t);
        if (lane == 0) shm[0] = t;  // every lane of warp 0 has read shm[lane] before the shuffles above
    }
    __syncthreads();
    const float r = shm[0];
    __syncthreads();
    return r;
}

template <class T>
struct TypeTag {
    using type = T;
};

/// Calls f(TypeTag<T>{}) with T = float, __half or __nv_bfloat16 for dt; returns what f returns.
template <class F>
cudaError_t dispatch_dtype(io::DType dt, F&& f) {
    switch (dt) {
        case io::DType::F32: return f(TypeTag<float>{});
        case io::DType::F16: return f(TypeTag<__half>{});
        case io::DType::BF16: return f(TypeTag<__nv_bfloat16>{});
    }
    return cudaErrorInvalidValue;
}

/// Grid size for a 1-D grid-stride loop over n items.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65535LL * 16) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > max_blocks) b = max_blocks;
    return static_cast<unsigned>(b);
}

/// The launch status: cudaGetLastError() after a launch.
inline cudaError_t launch_status() { return cudaGetLastError(); }

}  // namespace mixq::gpu::detail
