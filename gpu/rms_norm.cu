// SPDX-License-Identifier: MIT
// RMSNorm kernels: one block per row (wider blocks when rows are few), fp32 sum of squares reduced over the block,
// then the scaled write.
#include "gpu/kernel_common.cuh"
#include "gpu/rms_norm.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

/// Threads per row: up to 256 when there are many rows; up to 1024 for a few rows (decode), where one block per row
/// leaves the device idle and the row's dependent load chain is the latency.
int threads_for(int cols, int rows) {
    const int cap = rows <= 64 ? 1024 : 256;
    int t = ((cols + 31) / 32) * 32;
    return t < 32 ? 32 : (t > cap ? cap : t);
}

template <class TX, class TY>
__global__ void rms_norm_kernel(const TX* __restrict__ x, const float* __restrict__ w, TY* __restrict__ y, int cols,
                                float eps, int rows_per_group, int64_t group_stride) {
    __shared__ float shm[32];
    const int64_t r = blockIdx.x;
    const int64_t off = (r / rows_per_group) * group_stride + (r % rows_per_group) * static_cast<int64_t>(cols);
    const TX* xr = x + off;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = to_f32(xr[c]);
        ss += v * v;
    }
    ss = block_sum(ss, shm);  // synchronizes: every read of x happens before any write of y (in-place safe)
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(cols) + eps);
    TY* yr = y + off;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = from_f32<TY>(to_f32(xr[c]) * inv * w[c]);
}

template <class TD, class TY>
__global__ void add_rms_norm_kernel(float* __restrict__ residual, const TD* __restrict__ delta,
                                    const float* __restrict__ w, TY* __restrict__ y, int cols, float eps) {
    __shared__ float shm[32];
    const int64_t off = static_cast<int64_t>(blockIdx.x) * cols;
    float* rr = residual + off;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = rr[c];
        if (delta) {
            v += to_f32(delta[off + c]);
            rr[c] = v;
        }
        ss += v * v;
    }
    if (!y) return;  // uniform over the block
    ss = block_sum(ss, shm);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(cols) + eps);
    TY* yr = y + off;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = from_f32<TY>(rr[c] * inv * w[c]);
}

}  // namespace

cudaError_t rms_norm(const void* x, io::DType x_dt, const float* weight, void* y, io::DType y_dt, int rows, int cols,
                     float eps, cudaStream_t stream, int rows_per_group, int64_t group_stride) {
    if (rows == 0) return cudaSuccess;
    if (!x || !weight || !y || rows < 0 || cols <= 0 || rows_per_group <= 0 || group_stride < 0)
        return cudaErrorInvalidValue;
    if (x == y && x_dt != y_dt) return cudaErrorInvalidValue;
    if (group_stride == 0) group_stride = cols;
    if (rows_per_group == 1 && group_stride < cols) return cudaErrorInvalidValue;
    const int threads = threads_for(cols, rows);
    return dispatch_dtype(x_dt, [&](auto tx) {
        using TX = typename decltype(tx)::type;
        return dispatch_dtype(y_dt, [&](auto ty) {
            using TY = typename decltype(ty)::type;
            rms_norm_kernel<TX, TY><<<rows, threads, 0, stream>>>(static_cast<const TX*>(x), weight,
                                                                  static_cast<TY*>(y), cols, eps, rows_per_group,
                                                                  group_stride);
            return launch_status();
        });
    });
}

cudaError_t add_rms_norm(float* residual, const void* delta, io::DType delta_dt, const float* weight, void* y,
                         io::DType y_dt, int rows, int cols, float eps, cudaStream_t stream) {
    if (rows == 0) return cudaSuccess;
    if (!residual || rows < 0 || cols <= 0 || (y && !weight)) return cudaErrorInvalidValue;
    const int threads = threads_for(cols, rows);
    return dispatch_dtype(delta_dt, [&](auto td) {
        using TD = typename decltype(td)::type;
        return dispatch_dtype(y_dt, [&](auto ty) {
            using TY = typename decltype(ty)::type;
            add_rms_norm_kernel<TD, TY><<<rows, threads, 0, stream>>>(
                residual, static_cast<const TD*>(delta), weight, static_cast<TY*>(y), cols, eps);
            return launch_status();
        });
    });
}

}  // namespace mixq::gpu
