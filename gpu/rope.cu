// SPDX-License-Identifier: MIT
// RoPE kernel: one thread per rotated pair (row, head, i).
#include "gpu/kernel_common.cuh"
#include "gpu/rope.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

template <class T>
__global__ void rope_kernel(T* __restrict__ x, int64_t total, int n_heads, int half, int64_t row_stride, int pos0,
                            const float* __restrict__ inv_freq, const int* __restrict__ pos_dev) {
    if (pos_dev) pos0 = *pos_dev;
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int i = static_cast<int>(idx % half);
        const int64_t rh = idx / half;
        const int h = static_cast<int>(rh % n_heads);
        const int64_t t = rh / n_heads;
        const float ang = static_cast<float>(pos0 + t) * inv_freq[i];
        float sn, cs;
        sincosf(ang, &sn, &cs);
        T* v = x + t * row_stride + static_cast<int64_t>(h) * (2 * half);
        const float a = to_f32(v[i]), b = to_f32(v[i + half]);
        v[i] = from_f32<T>(a * cs - b * sn);
        v[i + half] = from_f32<T>(b * cs + a * sn);
    }
}

}  // namespace

cudaError_t rope(void* x, io::DType dt, int rows, int n_heads, int head_dim, int64_t row_stride, int pos0,
                 const float* inv_freq, cudaStream_t stream, const int* pos_dev) {
    if (rows == 0 || n_heads == 0) return cudaSuccess;
    if (!x || !inv_freq || rows < 0 || n_heads < 0 || head_dim <= 0 || (head_dim & 1) || pos0 < 0 ||
        row_stride < static_cast<int64_t>(n_heads) * head_dim)
        return cudaErrorInvalidValue;
    const int half = head_dim / 2;
    const int64_t total = static_cast<int64_t>(rows) * n_heads * half;
    const int threads = 256;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        rope_kernel<T><<<grid_for(total, threads), threads, 0, stream>>>(static_cast<T*>(x), total, n_heads, half,
                                                                        row_stride, pos0, inv_freq, pos_dev);
        return launch_status();
    });
}

}  // namespace mixq::gpu
