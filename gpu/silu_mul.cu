// SPDX-License-Identifier: MIT
// SiLU·mul kernel: grid-stride over rows × cols.
#include "gpu/kernel_common.cuh"
#include "gpu/silu_mul.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

template <class T>
__global__ void silu_mul_kernel(const T* gate, const T* up, int64_t in_stride, T* out, int64_t out_stride,
                                int64_t total, int cols) {
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = idx / cols;
        const int c = static_cast<int>(idx % cols);
        const float g = to_f32(gate[r * in_stride + c]);
        const float u = to_f32(up[r * in_stride + c]);
        out[r * out_stride + c] = from_f32<T>(g / (1.0f + expf(-g)) * u);
    }
}

}  // namespace

cudaError_t silu_mul(const void* gate, const void* up, int64_t in_stride, void* out, int64_t out_stride, int rows,
                     int cols, io::DType dt, cudaStream_t stream) {
    if (rows == 0 || cols == 0) return cudaSuccess;
    if (!gate || !up || !out || rows < 0 || cols < 0 || in_stride < cols || out_stride < cols)
        return cudaErrorInvalidValue;
    const int64_t total = static_cast<int64_t>(rows) * cols;
    const int threads = 256;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        silu_mul_kernel<T><<<grid_for(total, threads), threads, 0, stream>>>(
            static_cast<const T*>(gate), static_cast<const T*>(up), in_stride, static_cast<T*>(out), out_stride, total,
            cols);
        return launch_status();
    });
}

}  // namespace mixq::gpu
