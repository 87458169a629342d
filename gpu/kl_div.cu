// SPDX-License-Identifier: MIT
// KL kernel. With a = ref logits, b = candidate logits and m_a, m_b running maxima, each thread keeps
// S_a = Σ e^{a−m_a}, W = Σ e^{a−m_a}(a − b), S_b = Σ e^{b−m_b}; partial states merge by rescaling to the larger max.
// Then KL = W/S_a − (m_a − m_b) + log(S_b / S_a)   (= Σ p(a − b) − lse_a + lse_b).
#include <cfloat>

#include "gpu/kernel_common.cuh"
#include "gpu/kl_div.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

struct KlState {
    float ma, mb;
    double sa, w, sb;
};

__device__ __forceinline__ double rescale(float m_old, float m_new) {
    return m_old == -INFINITY ? 0.0 : static_cast<double>(expf(m_old - m_new));
}

__device__ __forceinline__ KlState merge(const KlState& x, const KlState& y) {
    KlState r;
    r.ma = fmaxf(x.ma, y.ma);
    r.mb = fmaxf(x.mb, y.mb);
    if (r.ma == -INFINITY) {
        r.sa = 0.0;
        r.w = 0.0;
    } else {
        const double fx = rescale(x.ma, r.ma), fy = rescale(y.ma, r.ma);
        r.sa = x.sa * fx + y.sa * fy;
        r.w = x.w * fx + y.w * fy;
    }
    r.sb = r.mb == -INFINITY ? 0.0 : x.sb * rescale(x.mb, r.mb) + y.sb * rescale(y.mb, r.mb);
    return r;
}

__device__ __forceinline__ KlState shfl_state(const KlState& s, int o) {
    KlState r;
    r.ma = __shfl_xor_sync(0xffffffffu, s.ma, o);
    r.mb = __shfl_xor_sync(0xffffffffu, s.mb, o);
    r.sa = __shfl_xor_sync(0xffffffffu, s.sa, o);
    r.w = __shfl_xor_sync(0xffffffffu, s.w, o);
    r.sb = __shfl_xor_sync(0xffffffffu, s.sb, o);
    return r;
}

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads) kl_kernel(const T* __restrict__ ref, const T* __restrict__ cand, int vocab,
                                                      int64_t stride, double* __restrict__ out) {
    __shared__ KlState warp_states[kThreads / 32];
    const int64_t row = blockIdx.x;
    const T* a_row = ref + row * stride;
    const T* b_row = cand + row * stride;
    KlState s{-INFINITY, -INFINITY, 0.0, 0.0, 0.0};
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
        const float a = to_f32(a_row[j]), b = to_f32(b_row[j]);
        if (a != -INFINITY) {  // p_j = 0 contributes nothing (and −inf − −inf would be NaN)
            if (a > s.ma) {
                const double f = rescale(s.ma, a);
                s.sa *= f;
                s.w *= f;
                s.ma = a;
            }
            const double ea = static_cast<double>(expf(a - s.ma));
            s.sa += ea;
            s.w += ea * static_cast<double>(a - b);
        }
        if (b != -INFINITY) {
            if (b > s.mb) {
                s.sb *= rescale(s.mb, b);
                s.mb = b;
            }
            s.sb += static_cast<double>(expf(b - s.mb));
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s = merge(s, shfl_state(s, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) warp_states[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        KlState t = warp_states[0];
        for (int i = 1; i < static_cast<int>(blockDim.x >> 5); ++i) t = merge(t, warp_states[i]);
        double kl = t.w / t.sa - (static_cast<double>(t.ma) - static_cast<double>(t.mb)) + log(t.sb / t.sa);
        out[row] = kl > 0.0 ? kl : 0.0;
    }
}

}  // namespace

cudaError_t kl_rows(const void* ref_logits, const void* cand_logits, io::DType dt, int rows, int vocab, int64_t stride,
                    double* kl, cudaStream_t stream) {
    if (rows == 0) return cudaSuccess;
    if (!ref_logits || !cand_logits || !kl || rows < 0 || vocab <= 0 || stride < 0) return cudaErrorInvalidValue;
    if (stride == 0) stride = vocab;
    if (stride < vocab) return cudaErrorInvalidValue;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        kl_kernel<T><<<rows, kThreads, 0, stream>>>(static_cast<const T*>(ref_logits), static_cast<const T*>(cand_logits),
                                                    vocab, stride, kl);
        return launch_status();
    });
}

}  // namespace mixq::gpu
