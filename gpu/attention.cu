// SPDX-License-Identifier: MIT
// Attention kernels. A block holds up to 16 query rows (4 warps × 4 rows) in shared memory and streams 32-key
// tiles of K and V (fp32 in shared memory, K rows padded to head_dim+1 floats against bank conflicts). For each
// row a warp scores one key per lane, then updates the row's running max m, sum l and output accumulator
// (each lane owns head dims lane, lane+32, ...): the flash-attention online softmax.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "gpu/attention.cuh"
#include "gpu/kernel_common.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kRows = kWarps * kRowsPerWarp;  // query rows per block
constexpr int kTile = 32;                     // keys per tile (one per lane)
constexpr unsigned kFull = 0xffffffffu;

template <class T>
struct AttnArgs {
    const T* q;
    int64_t q_stride;
    const T* k;
    const T* v;
    int64_t kv_stride;
    T* out;
    int64_t out_stride;
    int tokens;
    int pos0;
    int n_heads;
    int group;  // query heads per kv head
    int d;
    float scale;
    // decode splits
    int chunk;
    int n_splits;
    float* part_acc;  // [n_heads, n_splits, d]
    float* part_ml;   // [n_heads, n_splits, 2]
    const int* pos_dev = nullptr;  // decode: position read at run time (pos0 = the largest planned for)
};

size_t smem_bytes(int d) { return sizeof(float) * (static_cast<size_t>(kRows) * d + kTile * (d + 1) + kTile * d); }

/// Loads keys [kt, kt+32) ∩ [0, kend) of kv head g into ks/vs as fp32; rows past kend are zero (p = 0 never meets
/// garbage that could be NaN).
template <class T>
__device__ __forceinline__ void load_kv_tile(const AttnArgs<T>& a, int g, int kt, int kend, float* ks, float* vs) {
    const int d = a.d, dp = d + 1;
    for (int i = threadIdx.x; i < kTile * d; i += blockDim.x) {
        const int j = i / d, c = i - (i / d) * d;
        const int key = kt + j;
        float kv = 0.0f, vv = 0.0f;
        if (key < kend) {
            const int64_t off = static_cast<int64_t>(key) * a.kv_stride + static_cast<int64_t>(g) * d + c;
            kv = to_f32(a.k[off]);
            vv = to_f32(a.v[off]);
        }
        ks[j * dp + c] = kv;
        vs[j * d + c] = vv;
    }
}

/// q·k_lane · scale for the key this lane owns (row r of qs).
__device__ __forceinline__ float score(const float* qr, const float* kr, int d, float scale) {
    float dot = 0.0f;
    for (int c = 0; c < d; ++c) dot += qr[c] * kr[c];
    return dot * scale;
}

/// One online-softmax step of a warp for one query row over a 32-key tile; s = this lane's score (−inf: masked).
template <int DPL>
__device__ __forceinline__ void online_update(float s, float& m, float& l, float (&acc)[DPL], const float* vs, int d,
                                              int lane) {
    const float mt = warp_max(s);
    const float mn = fmaxf(m, mt);
    if (mn == -INFINITY) return;  // every key so far masked (warp-uniform)
    const float corr = expf(m - mn);  // m = −inf -> 0
    const float p = expf(s - mn);     // s = −inf -> 0
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[i] *= corr;
    for (int j = 0; j < kTile; ++j) {
        const float pj = __shfl_sync(kFull, p, j);
        const float* vr = vs + j * d;
#pragma unroll
        for (int i = 0; i < DPL; ++i) {
            const int c = lane + 32 * i;
            if (c < d) acc[i] += pj * vr[c];
        }
    }
    m = mn;
}

template <class T, int DPL>
__global__ void __launch_bounds__(kWarps * 32) attn_prefill_kernel(AttnArgs<T> a) {
    extern __shared__ float smem[];
    const int d = a.d;
    float* qs = smem;            // [kRows][d]
    float* ks = qs + kRows * d;  // [kTile][d + 1]
    float* vs = ks + kTile * (d + 1);  // [kTile][d]
    const int h = blockIdx.y, g = h / a.group;
    const int t0 = blockIdx.x * kRows;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    for (int i = threadIdx.x; i < kRows * d; i += blockDim.x) {
        const int r = i / d, c = i - (i / d) * d;
        const int t = t0 + r;
        qs[i] = t < a.tokens ? to_f32(a.q[static_cast<int64_t>(t) * a.q_stride + static_cast<int64_t>(h) * d + c])
                             : 0.0f;
    }
    const int t_last = min(t0 + kRows, a.tokens) - 1;
    const int kend = a.pos0 + t_last + 1;  // keys the last row of the block needs

    float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DPL];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[rr][i] = 0.0f;
    }

    for (int kt = 0; kt < kend; kt += kTile) {
        __syncthreads();  // the previous tile is consumed (and qs is complete before the first scores)
        load_kv_tile(a, g, kt, kend, ks, vs);
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < kRowsPerWarp; ++rr) {
            const int r = rr * kWarps + warp;
            const int t = t0 + r;
            const int limit = a.pos0 + t;  // key j is visible iff j <= limit
            if (t >= a.tokens || kt > limit) continue;  // warp-uniform
            const int key = kt + lane;
            const float s = key <= limit ? score(qs + r * d, ks + lane * (d + 1), d, a.scale) : -INFINITY;
            online_update<DPL>(s, m[rr], l[rr], acc[rr], vs, d, lane);
        }
    }

#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        const int r = rr * kWarps + warp;
        const int t = t0 + r;
        if (t >= a.tokens) continue;
        const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
        T* o = a.out + static_cast<int64_t>(t) * a.out_stride + static_cast<int64_t>(h) * d;
#pragma unroll
        for (int i = 0; i < DPL; ++i) {
            const int c = lane + 32 * i;
            if (c < d) o[c] = from_f32<T>(acc[rr][i] * inv);
        }
    }
}

/// grid: x = kv head, y = sequence split, z = chunk of 16 query heads of the group.
template <class T, int DPL>
__global__ void __launch_bounds__(kWarps * 32) attn_decode_kernel(AttnArgs<T> a) {
    extern __shared__ float smem[];
    const int d = a.d;
    float* qs = smem;
    float* ks = qs + kRows * d;
    float* vs = ks + kTile * (d + 1);
    const int g = blockIdx.x, split = blockIdx.y, hc = blockIdx.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int nkeys = (a.pos_dev ? *a.pos_dev : a.pos0) + 1;
    const int kbeg = split * a.chunk;  // splits past nkeys stay empty: m = −inf, l = 0 (weight 0 in the combine)
    const int kend = min(nkeys, kbeg + a.chunk);
    const int hg0 = hc * kRows;  // first head (within the group) of this block
    const int rows = min(kRows, a.group - hg0);

    for (int i = threadIdx.x; i < kRows * d; i += blockDim.x) {
        const int r = i / d, c = i - (i / d) * d;
        const int h = g * a.group + hg0 + r;
        qs[i] = r < rows ? to_f32(a.q[static_cast<int64_t>(h) * d + c]) : 0.0f;
    }

    float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DPL];
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[rr][i] = 0.0f;
    }

    for (int kt = kbeg; kt < kend; kt += kTile) {
        __syncthreads();
        load_kv_tile(a, g, kt, kend, ks, vs);
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < kRowsPerWarp; ++rr) {
            const int r = rr * kWarps + warp;
            if (r >= rows) continue;  // warp-uniform
            const int key = kt + lane;
            const float s = key < kend ? score(qs + r * d, ks + lane * (d + 1), d, a.scale) : -INFINITY;
            online_update<DPL>(s, m[rr], l[rr], acc[rr], vs, d, lane);
        }
    }

#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        const int r = rr * kWarps + warp;
        if (r >= rows) continue;
        const int h = g * a.group + hg0 + r;
        if (a.n_splits == 1) {
            const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
            T* o = a.out + static_cast<int64_t>(h) * d;
#pragma unroll
            for (int i = 0; i < DPL; ++i) {
                const int c = lane + 32 * i;
                if (c < d) o[c] = from_f32<T>(acc[rr][i] * inv);
            }
        } else {
            const int64_t slot = static_cast<int64_t>(h) * a.n_splits + split;
            float* pa = a.part_acc + slot * d;
#pragma unroll
            for (int i = 0; i < DPL; ++i) {
                const int c = lane + 32 * i;
                if (c < d) pa[c] = acc[rr][i];
            }
            if (lane == 0) {
                a.part_ml[slot * 2] = m[rr];
                a.part_ml[slot * 2 + 1] = l[rr];
            }
        }
    }
}

/// out[h] = Σ_s acc_s·e^{m_s − M} / Σ_s l_s·e^{m_s − M}; one block per head, one thread per dim.
template <class T>
__global__ void attn_combine_kernel(const float* __restrict__ part_acc, const float* __restrict__ part_ml, T* out,
                                    int n_splits, int d) {
    const int h = blockIdx.x;
    const float* ml = part_ml + static_cast<int64_t>(h) * n_splits * 2;
    float mx = -INFINITY;
    for (int s = 0; s < n_splits; ++s) mx = fmaxf(mx, ml[2 * s]);
    float L = 0.0f;
    for (int s = 0; s < n_splits; ++s) L += ml[2 * s + 1] * expf(ml[2 * s] - mx);
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (int c = threadIdx.x; c < d; c += blockDim.x) {
        float v = 0.0f;
        for (int s = 0; s < n_splits; ++s)
            v += part_acc[(static_cast<int64_t>(h) * n_splits + s) * d + c] * expf(ml[2 * s] - mx);
        out[static_cast<int64_t>(h) * d + c] = from_f32<T>(v * inv);
    }
}

int dims_per_lane(int d) { return d <= 32 ? 1 : d <= 64 ? 2 : d <= 128 ? 4 : d <= 256 ? 8 : 0; }

template <class Kernel>
cudaError_t prepare_smem(Kernel kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

template <class T, int DPL>
cudaError_t launch_prefill(const AttnArgs<T>& a, cudaStream_t stream) {
    const size_t smem = smem_bytes(a.d);
    if (cudaError_t e = prepare_smem(attn_prefill_kernel<T, DPL>, smem); e != cudaSuccess) return e;
    const dim3 grid((a.tokens + kRows - 1) / kRows, a.n_heads);
    attn_prefill_kernel<T, DPL><<<grid, kWarps * 32, smem, stream>>>(a);
    return launch_status();
}

template <class T, int DPL>
cudaError_t launch_decode(const AttnArgs<T>& a, int n_kv_heads, cudaStream_t stream) {
    const size_t smem = smem_bytes(a.d);
    if (cudaError_t e = prepare_smem(attn_decode_kernel<T, DPL>, smem); e != cudaSuccess) return e;
    const dim3 grid(n_kv_heads, a.n_splits, (a.group + kRows - 1) / kRows);
    attn_decode_kernel<T, DPL><<<grid, kWarps * 32, smem, stream>>>(a);
    if (cudaError_t e = launch_status(); e != cudaSuccess) return e;
    if (a.n_splits > 1) {
        const int threads = ((a.d + 31) / 32) * 32;
        attn_combine_kernel<T><<<a.n_heads, threads, 0, stream>>>(a.part_acc, a.part_ml, a.out, a.n_splits, a.d);
        return launch_status();
    }
    return cudaSuccess;
}

template <class T, class F>
cudaError_t with_dpl(int d, F&& f) {
    switch (dims_per_lane(d)) {
        case 1: return f(std::integral_constant<int, 1>{});
        case 2: return f(std::integral_constant<int, 2>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 8: return f(std::integral_constant<int, 8>{});
    }
    return cudaErrorInvalidValue;
}

bool bad_heads(int n_heads, int n_kv_heads, int head_dim) {
    return n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim <= 0 ||
           head_dim > kMaxAttentionHeadDim;
}

}  // namespace

cudaError_t attention_prefill(const void* q, int64_t q_stride, const void* k, const void* v, int64_t kv_stride,
                              void* out, int64_t out_stride, int tokens, int pos0, int n_heads, int n_kv_heads,
                              int head_dim, io::DType dt, cudaStream_t stream) {
    if (tokens == 0) return cudaSuccess;
    if (!q || !k || !v || !out || tokens < 0 || pos0 < 0 || bad_heads(n_heads, n_kv_heads, head_dim) ||
        q_stride < static_cast<int64_t>(n_heads) * head_dim || kv_stride < static_cast<int64_t>(n_kv_heads) * head_dim ||
        out_stride < static_cast<int64_t>(n_heads) * head_dim)
        return cudaErrorInvalidValue;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        AttnArgs<T> a{static_cast<const T*>(q), q_stride, static_cast<const T*>(k), static_cast<const T*>(v),
                      kv_stride, static_cast<T*>(out), out_stride, tokens, pos0, n_heads, n_heads / n_kv_heads,
                      head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim)), 0, 1, nullptr, nullptr};
        return with_dpl<T>(head_dim, [&](auto dpl) { return launch_prefill<T, decltype(dpl)::value>(a, stream); });
    });
}

size_t attention_decode_workspace_floats(int n_heads, int head_dim, int max_splits) {
    return static_cast<size_t>(n_heads) * max_splits * (head_dim + 2);
}

cudaError_t attention_decode(const void* q, const void* k, const void* v, int64_t kv_stride, void* out, int pos,
                             int n_heads, int n_kv_heads, int head_dim, io::DType dt, float* workspace,
                             size_t workspace_floats, cudaStream_t stream, const int* pos_dev) {
    if (!q || !k || !v || !out || pos < 0 || bad_heads(n_heads, n_kv_heads, head_dim) ||
        kv_stride < static_cast<int64_t>(n_kv_heads) * head_dim)
        return cudaErrorInvalidValue;
    const int group = n_heads / n_kv_heads;
    const int nkeys = pos + 1;
    // Split the sequence so that about two blocks per SM run, in chunks of at least one 32-key tile.
    int device = 0, sms = 1;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
        return launch_status();
    const int base_blocks = n_kv_heads * ((group + kRows - 1) / kRows);
    int splits = (2 * sms + base_blocks - 1) / base_blocks;
    const int max_by_ws =
        workspace ? static_cast<int>(workspace_floats / (static_cast<size_t>(n_heads) * (head_dim + 2))) : 1;
    splits = std::max(1, std::min({splits, max_by_ws, (nkeys + kTile - 1) / kTile}));
    int chunk = (nkeys + splits - 1) / splits;
    chunk = ((chunk + kTile - 1) / kTile) * kTile;
    splits = (nkeys + chunk - 1) / chunk;  // every split holds at least one key
    float* part_acc = workspace;
    float* part_ml = workspace ? workspace + static_cast<size_t>(n_heads) * splits * head_dim : nullptr;
    return dispatch_dtype(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        AttnArgs<T> a{static_cast<const T*>(q), 0, static_cast<const T*>(k), static_cast<const T*>(v), kv_stride,
                      static_cast<T*>(out), 0, 1, pos, n_heads, group, head_dim,
                      1.0f / std::sqrt(static_cast<float>(head_dim)), chunk, splits, part_acc, part_ml, pos_dev};
        return with_dpl<T>(head_dim,
                           [&](auto dpl) { return launch_decode<T, decltype(dpl)::value>(a, n_kv_heads, stream); });
    });
}

}  // namespace mixq::gpu
