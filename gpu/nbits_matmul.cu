// SPDX-License-Identifier: MIT
// MatMulNBits kernels. Element e of a weight row lives in byte ⌊e·bits/8⌋ (low nibble first for 4 bits), so a
// little-endian 4-byte word holds 32/bits consecutive elements, all in one quantization block (block_size ≥ 16).
//  - GEMV: a block owns 4 weight rows and its 1-8 warps stride over them in 16-byte (or 4-byte) loads, one load
//    per lane, x values from L1 (vector loads when aligned) shared by the 4 rows; codes become floats by the 2^23 mantissa
//    trick (no int→float conversion), the block index is a shift, scale and zero point are read once per load when
//    the load lies in one block; per-word partial sums Σ x·(q − zp) are scaled once.
//  - GEMM (F16/BF16): 64×64 output tile, 4 warps × (2×2) 16×16×16 WMMA fragments, 32-deep k tiles; the weight tile
//    is dequantized into shared memory as the activation type.
//  - GEMM (F32): 64×64 tile, 256 threads × 4×4 outputs, 16-deep k tiles, exact fp32 dequantization.
// Padding codes past k in the last block are never used: their x values are zero (GEMV) or the tile entries are
// zeroed (GEMM), and nothing past the k_blocks·blob_size bytes of a row is read.
#include <mma.h>

#include <type_traits>

#include "gpu/kernel_common.cuh"
#include "gpu/nbits_matmul.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

template <class TA, class TS>
struct MatArgs {
    const TA* x;
    const uint8_t* packed;
    const TS* scales;
    const uint8_t* zp;  // null: symmetric
    const float* bias;
    void* y;
    bool y_f32;
    int m;
    int64_t n, k, kb, row_bytes, zp_row_bytes;
    int bs, bs_shift;  // block size and its log2
    bool x_vec;  // x rows 16-byte aligned: vector loads allowed
};

template <int BITS>
__device__ __forceinline__ float zero_point(const uint8_t* zp, int64_t n, int64_t zrb, int64_t b) {
    if (!zp) return static_cast<float>(1 << (BITS - 1));
    if (BITS == 8) return static_cast<float>(zp[n * zrb + b]);
    const uint8_t byte = zp[n * zrb + (b >> 1)];
    return static_cast<float>((b & 1) ? (byte >> 4) : (byte & 0x0f));
}

template <class TA>
__device__ __forceinline__ void store_out(void* y, bool y_f32, int64_t idx, float v) {
    if (y_f32) static_cast<float*>(y)[idx] = v;
    else static_cast<TA*>(y)[idx] = from_f32<TA>(v);
}

/// E consecutive x values from e (zero past k); aligned vector loads when allowed.
template <class TA, int E>
__device__ __forceinline__ void load_x(const TA* xr, int64_t e, int64_t k, bool vec, float (&out)[E]) {
    constexpr int kBytes = E * static_cast<int>(sizeof(TA));
    if (vec && e + E <= k) {
        alignas(16) TA tmp[E];
        if constexpr (kBytes >= 16) {
#pragma unroll
            for (int i = 0; i < kBytes / 16; ++i)
                reinterpret_cast<uint4*>(tmp)[i] = __ldg(reinterpret_cast<const uint4*>(xr + e) + i);
        } else {
            static_assert(kBytes == 8, "x vector load of 8 or 16·n bytes");
            *reinterpret_cast<uint2*>(tmp) = __ldg(reinterpret_cast<const uint2*>(xr + e));
        }
#pragma unroll
        for (int i = 0; i < E; ++i) out[i] = to_f32(tmp[i]);
    } else {
#pragma unroll
        for (int i = 0; i < E; ++i) out[i] = e + i < k ? to_f32(xr[e + i]) : 0.0f;
    }
}

// ---------------------------------------------------------------- GEMV
constexpr int kGemvMaxWarps = 8;  // warps per block, all on the same rows, each a slice of the row's loads
constexpr int kGemvRows = 4;      // weight rows per block (each x value loaded once serves all of them)
constexpr int kGemvMaxM = 4;  // activation rows per launch

/// (q − z) for the code in bits [shift, shift + BITS) of w without an int→float conversion: the code ORed into the
/// mantissa of 2^23 is the float 2^23 + q exactly, and zf = 2^23 + z, so one FADD gives q − z exactly.
template <int BITS>
__device__ __forceinline__ float code_minus_zp(uint32_t w, int shift, float zf) {
    return __uint_as_float(0x4B000000u | ((w >> shift) & ((1u << BITS) - 1u))) - zf;
}

/// A block owns kGemvRows weight rows; its blockDim.x / 32 warps split each row's loads (thread t reads bytes
/// [li·4·SUB, +4·SUB) for li = t, t + blockDim.x, ...), so long rows (down_proj) still fill the device; the
/// per-warp sums meet in shared memory. The block index of a word is a shift (block sizes are powers of two); when
/// one lane load lies in one block (block_size ≥ elements per load) scale and zero point are read once per load.
/// MAXM: activation rows the registers are sized for (1 for decode: a quarter of the accumulators and x values).
template <class TA, class TS, int BITS, int SUB, int MAXM>
__global__ void __launch_bounds__(kGemvMaxWarps * 32) nbits_gemv_kernel(MatArgs<TA, TS> a) {
    constexpr int EPS = 32 / BITS;  // elements per 4-byte word
    constexpr int EPL = EPS * SUB;  // elements per lane load
    __shared__ float red[kGemvMaxWarps][kGemvRows * MAXM];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n_warps = blockDim.x >> 5;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kGemvRows;
    if (n0 >= a.n) return;  // uniform over the block
    const int nrows = static_cast<int>(a.n - n0 < kGemvRows ? a.n - n0 : kGemvRows);
    const int n_loads = static_cast<int>(a.row_bytes / (4 * SUB));
    const int k = static_cast<int>(a.k);
    const int bs_shift = a.bs_shift;
    const bool one_block = a.bs >= EPL;
    const uint8_t* rows_p[kGemvRows];
    const TS* sc_p[kGemvRows];
#pragma unroll
    for (int rr = 0; rr < kGemvRows; ++rr) {
        const int64_t n = n0 + (rr < nrows ? rr : 0);  // rows past n alias row n0 (loaded, never stored)
        rows_p[rr] = a.packed + n * a.row_bytes;
        sc_p[rr] = a.scales + n * a.kb;
    }
    float acc[kGemvRows][MAXM];
#pragma unroll
    for (int rr = 0; rr < kGemvRows; ++rr)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) acc[rr][m] = 0.0f;

    const int n_valid = min(n_loads, (k + EPL - 1) / EPL);  // loads past it hold only padding
#pragma unroll 2
    for (int li = threadIdx.x; li < n_valid; li += blockDim.x) {
        const int e0 = li * EPL;
        uint32_t words[kGemvRows][SUB];
#pragma unroll
        for (int rr = 0; rr < kGemvRows; ++rr) {
            const uint8_t* p = rows_p[rr] + li * (4 * SUB);
            if constexpr (SUB == 4) {
                const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
                words[rr][0] = v.x;
                words[rr][1] = v.y;
                words[rr][2] = v.z;
                words[rr][3] = v.w;
            } else {
                words[rr][0] = __ldg(reinterpret_cast<const uint32_t*>(p));
            }
        }
        float sc[kGemvRows], zf[kGemvRows];
        int b_loaded = -1;
#pragma unroll
        for (int s = 0; s < SUB; ++s) {
            const int es = e0 + s * EPS;
            if (es >= k) break;
            const int b = es >> bs_shift;
            if (b != b_loaded && (s == 0 || !one_block)) {
#pragma unroll
                for (int rr = 0; rr < kGemvRows; ++rr) {
                    const int64_t n = n0 + (rr < nrows ? rr : 0);
                    sc[rr] = to_f32(__ldg(sc_p[rr] + b));
                    zf[rr] = 8388608.0f + zero_point<BITS>(a.zp, n, a.zp_row_bytes, b);
                }
                b_loaded = b;
            }
            float xv[MAXM][EPS];
#pragma unroll
            for (int m = 0; m < MAXM; ++m)
                if (m < a.m) load_x<TA, EPS>(a.x + m * a.k, es, a.k, a.x_vec, xv[m]);
#pragma unroll
            for (int rr = 0; rr < kGemvRows; ++rr) {
                float wv[EPS];
#pragma unroll
                for (int i = 0; i < EPS; ++i) wv[i] = code_minus_zp<BITS>(words[rr][s], i * BITS, zf[rr]);
#pragma unroll
                for (int m = 0; m < MAXM; ++m) {
                    if (m >= a.m) continue;
                    float p = 0.0f;
#pragma unroll
                    for (int i = 0; i < EPS; ++i) p = fmaf(xv[m][i], wv[i], p);
                    acc[rr][m] = fmaf(p, sc[rr], acc[rr][m]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < kGemvRows; ++rr)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) {
            const float v = warp_sum(acc[rr][m]);
            if (lane == 0) red[warp][rr * MAXM + m] = v;
        }
    __syncthreads();
    const int t = threadIdx.x;  // one thread per (row, activation row) output
    if (t < kGemvRows * MAXM) {
        const int rr = t / MAXM, m = t % MAXM;
        if (rr < nrows && m < a.m) {
            float v = 0.0f;
            for (int w = 0; w < n_warps; ++w) v += red[w][t];
            const int64_t n = n0 + rr;
            store_out<TA>(a.y, a.y_f32, m * a.n + n, v + (a.bias ? a.bias[n] : 0.0f));
        }
    }
}

// ---------------------------------------------------------------- GEMM, tensor cores (F16/BF16 activations)
constexpr int kTm = 64, kTn = 64;
constexpr int kWk = 32;            // k tile of the WMMA kernel
constexpr int kWld = kWk + 8;      // shared row pitch (elements) of the A/B tiles
constexpr int kCld = kTn + 4;      // shared row pitch (floats) of the output tile

template <class TA, class TS, int BITS>
__global__ void __launch_bounds__(128) nbits_gemm_wmma_kernel(MatArgs<TA, TS> a) {
    using namespace nvcuda;
    __shared__ __align__(32) TA As[kTm * kWld];
    __shared__ __align__(32) TA Bs[kTn * kWld];
    __shared__ __align__(32) float Cs[kTm * kCld];
    const int tid = threadIdx.x, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTm, n0 = static_cast<int64_t>(blockIdx.x) * kTn;
    const int64_t k_pad = a.kb * a.bs;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(c[i][j], 0.0f);

    const int lrow = tid >> 1;         // tile row this thread loads (A: m, B: n)
    const int lseg = (tid & 1) * 16;   // 16-element k segment
    for (int64_t k0 = 0; k0 < a.k; k0 += kWk) {
        {  // A tile: x[m0 + lrow, k0 + lseg .. +16)
            const int64_t m = m0 + lrow;
            const int64_t kk = k0 + lseg;
            TA* dst = As + lrow * kWld + lseg;
            if (m < a.m) {
                float v[16];
                load_x<TA, 8>(a.x + m * a.k, kk, a.k, a.x_vec, *reinterpret_cast<float(*)[8]>(v));
                load_x<TA, 8>(a.x + m * a.k, kk + 8, a.k, a.x_vec, *reinterpret_cast<float(*)[8]>(v + 8));
#pragma unroll
                for (int i = 0; i < 16; ++i) dst[i] = from_f32<TA>(v[i]);
            } else {
#pragma unroll
                for (int i = 0; i < 16; ++i) dst[i] = from_f32<TA>(0.0f);
            }
        }
        {  // B tile: dequantized weight row n0 + lrow, k0 + lseg .. +16 (one block: 16 | block_size)
            const int64_t n = n0 + lrow;
            const int64_t kk = k0 + lseg;
            TA* dst = Bs + lrow * kWld + lseg;
            if (n < a.n && kk < k_pad) {
                const int64_t b = kk >> a.bs_shift;
                const float sc = to_f32(a.scales[n * a.kb + b]);
                const float z = zero_point<BITS>(a.zp, n, a.zp_row_bytes, b);
                const uint8_t* p = a.packed + n * a.row_bytes + kk * BITS / 8;
                uint32_t words[BITS / 2];  // 16 elements = 8 bytes (int4) or 16 bytes (int8)
#pragma unroll
                for (int i = 0; i < BITS / 4; ++i) {
                    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p) + i);
                    words[2 * i] = v.x;
                    words[2 * i + 1] = v.y;
                }
                constexpr int EPS = 32 / BITS;
#pragma unroll
                for (int i = 0; i < 16; ++i) {
                    const uint32_t q = (words[i / EPS] >> ((i % EPS) * BITS)) & ((1u << BITS) - 1u);
                    dst[i] = from_f32<TA>(kk + i < a.k ? (static_cast<float>(q) - z) * sc : 0.0f);
                }
            } else {
#pragma unroll
                for (int i = 0; i < 16; ++i) dst[i] = from_f32<TA>(0.0f);
            }
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < kWk; ks += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, TA, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, TA, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], As + (wm * 32 + i * 16) * kWld + ks, kWld);
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], Bs + (wn * 32 + j * 16) * kWld + ks, kWld);
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(c[i][j], fa[i], fb[j], c[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * kCld + wn * 32 + j * 16, c[i][j], kCld,
                                    wmma::mem_row_major);
    __syncthreads();
    for (int idx = tid; idx < kTm * kTn; idx += blockDim.x) {
        const int r = idx / kTn, cc = idx % kTn;
        const int64_t m = m0 + r, n = n0 + cc;
        if (m < a.m && n < a.n) store_out<TA>(a.y, a.y_f32, m * a.n + n, Cs[r * kCld + cc] + (a.bias ? a.bias[n] : 0.0f));
    }
}

// ---------------------------------------------------------------- GEMM, fp32 CUDA cores
constexpr int kSk = 16;        // k tile of the fp32 kernel
constexpr int kSld = kTm + 4;  // shared pitch (floats), k-major tiles

template <class TA, class TS, int BITS>
__global__ void __launch_bounds__(256) nbits_gemm_f32_kernel(MatArgs<TA, TS> a) {
    __shared__ __align__(16) float As[kSk * kSld];  // [k][m]
    __shared__ __align__(16) float Bs[kSk * kSld];  // [k][n]
    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;  // outputs: rows ty·4 .. +4, cols tx·4 .. +4
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTm, n0 = static_cast<int64_t>(blockIdx.x) * kTn;
    const int64_t k_pad = a.kb * a.bs;
    const int lrow = tid >> 2;       // 0..63
    const int lk = (tid & 3) * 4;    // 0, 4, 8, 12
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < a.k; k0 += kSk) {
        {
            const int64_t m = m0 + lrow, kk = k0 + lk;
#pragma unroll
            for (int i = 0; i < 4; ++i)
                As[(lk + i) * kSld + lrow] = (m < a.m && kk + i < a.k) ? to_f32(a.x[m * a.k + kk + i]) : 0.0f;
        }
        {
            const int64_t n = n0 + lrow, kk = k0 + lk;
            if (n < a.n && kk < k_pad) {
                const int64_t b = kk >> a.bs_shift;
                const float sc = to_f32(a.scales[n * a.kb + b]);
                const float z = zero_point<BITS>(a.zp, n, a.zp_row_bytes, b);
                const uint8_t* p = a.packed + n * a.row_bytes + kk * BITS / 8;
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const uint32_t q = BITS == 8 ? p[i] : ((p[i >> 1] >> ((i & 1) * 4)) & 0x0fu);
                    Bs[(lk + i) * kSld + lrow] = kk + i < a.k ? (static_cast<float>(q) - z) * sc : 0.0f;
                }
            } else {
#pragma unroll
                for (int i = 0; i < 4; ++i) Bs[(lk + i) * kSld + lrow] = 0.0f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kSk; ++kk) {
            const float4 av = *reinterpret_cast<const float4*>(As + kk * kSld + ty * 4);
            const float4 bv = *reinterpret_cast<const float4*>(Bs + kk * kSld + tx * 4);
            const float ar[4] = {av.x, av.y, av.z, av.w}, br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += ar[i] * br[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
            if (m < a.m && n < a.n) store_out<TA>(a.y, a.y_f32, m * a.n + n, acc[i][j] + (a.bias ? a.bias[n] : 0.0f));
        }
}

// ---------------------------------------------------------------- dequantization to a dense matrix
/// One thread per 4-byte word of a row: out[n, e .. e + 32/BITS) = (q − zp)·scale in TO (exact in fp32, then rounded).
template <class TO, class TS, int BITS>
__global__ void nbits_dequantize_kernel(MatArgs<TO, TS> a, int64_t words_per_row, TO* out) {
    constexpr int EPS = 32 / BITS;
    const int64_t total = a.n * words_per_row;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
         t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t n = t / words_per_row, wi = t - n * words_per_row;
        const int64_t e = wi * EPS;
        if (e >= a.k) continue;
        const int64_t b = e >> a.bs_shift;
        const float sc = to_f32(a.scales[n * a.kb + b]);
        const float zf = 8388608.0f + zero_point<BITS>(a.zp, n, a.zp_row_bytes, b);
        const uint32_t w = __ldg(reinterpret_cast<const uint32_t*>(a.packed + n * a.row_bytes) + wi);
        TO* dst = out + n * a.k + e;
#pragma unroll
        for (int i = 0; i < EPS; ++i)
            if (e + i < a.k) dst[i] = from_f32<TO>(code_minus_zp<BITS>(w, i * BITS, zf) * sc);
    }
}

// ---------------------------------------------------------------- dispatch
template <class TA, class TS, int BITS>
cudaError_t run(MatArgs<TA, TS> a, NBitsKernel kernel, cudaStream_t stream) {
    const bool gemv = kernel == NBitsKernel::Gemv || (kernel == NBitsKernel::Auto && a.m <= kGemvMaxM);
    if (gemv) {
        const bool wide = a.row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(a.packed) % 16 == 0;
        const unsigned grid = static_cast<unsigned>((a.n + kGemvRows - 1) / kGemvRows);
        // About two loads per thread and row: 1 warp for a 2 KB row slice (int4 k = 4096), up to 8 for long rows.
        const int64_t loads = a.row_bytes / (wide ? 16 : 4);
        int warps = 1;
        while (warps < kGemvMaxWarps && loads >= 64LL * warps * 2) warps *= 2;
        const int total_m = a.m;
        for (int m0 = 0; m0 < total_m; m0 += kGemvMaxM) {
            MatArgs<TA, TS> c = a;
            c.m = total_m - m0 < kGemvMaxM ? total_m - m0 : kGemvMaxM;
            c.x = a.x + static_cast<int64_t>(m0) * a.k;
            c.y = a.y_f32 ? static_cast<void*>(static_cast<float*>(a.y) + static_cast<int64_t>(m0) * a.n)
                          : static_cast<void*>(static_cast<TA*>(a.y) + static_cast<int64_t>(m0) * a.n);
            if (c.m == 1) {
                if (wide) nbits_gemv_kernel<TA, TS, BITS, 4, 1><<<grid, warps * 32, 0, stream>>>(c);
                else nbits_gemv_kernel<TA, TS, BITS, 1, 1><<<grid, warps * 32, 0, stream>>>(c);
            } else {
                if (wide) nbits_gemv_kernel<TA, TS, BITS, 4, kGemvMaxM><<<grid, warps * 32, 0, stream>>>(c);
                else nbits_gemv_kernel<TA, TS, BITS, 1, kGemvMaxM><<<grid, warps * 32, 0, stream>>>(c);
            }
            if (cudaError_t e = launch_status(); e != cudaSuccess) return e;
        }
        return cudaSuccess;
    }
    const unsigned gm = static_cast<unsigned>((a.m + kTm - 1) / kTm);
    const unsigned gn = static_cast<unsigned>((a.n + kTn - 1) / kTn);
    if (gm > 65535u) return cudaErrorInvalidValue;
    if constexpr (std::is_same_v<TA, float>) {
        nbits_gemm_f32_kernel<TA, TS, BITS><<<dim3(gn, gm), 256, 0, stream>>>(a);
    } else {
        nbits_gemm_wmma_kernel<TA, TS, BITS><<<dim3(gn, gm), 128, 0, stream>>>(a);
    }
    return launch_status();
}

/// The weight half of MatArgs (everything but x, bias, y and m) for w.
template <class TA, class TS>
MatArgs<TA, TS> weight_args(const NBitsMatrix& w) {
    MatArgs<TA, TS> a{};
    a.packed = w.packed;
    a.scales = static_cast<const TS*>(w.scales);
    a.zp = w.zero_points;
    a.n = w.n;
    a.k = w.k;
    a.kb = w.k_blocks();
    a.row_bytes = a.kb * w.blob_size();
    a.zp_row_bytes = w.zp_row_bytes();
    a.bs = w.block_size;
    a.bs_shift = 0;
    while ((1 << a.bs_shift) < w.block_size) ++a.bs_shift;
    return a;
}

/// Shape, bits and block size the kernels accept; `packed` aligned to `align` bytes.
bool valid_matrix(const NBitsMatrix& w, uintptr_t align) {
    return w.packed && w.scales && w.n >= 0 && w.k > 0 && (w.bits == 4 || w.bits == 8) && w.block_size >= 16 &&
           w.block_size <= 256 && (w.block_size & (w.block_size - 1)) == 0 &&
           reinterpret_cast<uintptr_t>(w.packed) % align == 0;
}

}  // namespace

cudaError_t nbits_matmul(const void* x, io::DType act_dt, const NBitsMatrix& w, const float* bias, void* y,
                         io::DType y_dt, int rows, cudaStream_t stream, NBitsKernel kernel) {
    if (rows == 0 || w.n == 0) return cudaSuccess;
    if (!x || !y || rows < 0 || !valid_matrix(w, 8) || (y_dt != act_dt && y_dt != io::DType::F32))
        return cudaErrorInvalidValue;
    return dispatch_dtype(act_dt, [&](auto ta) {
        using TA = typename decltype(ta)::type;
        return dispatch_dtype(w.scale_dt, [&](auto ts) {
            using TS = typename decltype(ts)::type;
            MatArgs<TA, TS> a = weight_args<TA, TS>(w);
            a.x = static_cast<const TA*>(x);
            a.bias = bias;
            a.y = y;
            a.y_f32 = y_dt == io::DType::F32;
            a.m = rows;
            a.x_vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && (w.k * static_cast<int64_t>(sizeof(TA))) % 16 == 0;
            return w.bits == 4 ? run<TA, TS, 4>(a, kernel, stream) : run<TA, TS, 8>(a, kernel, stream);
        });
    });
}

cudaError_t nbits_dequantize(const NBitsMatrix& w, void* out, io::DType out_dt, cudaStream_t stream) {
    if (w.n == 0) return cudaSuccess;
    if (!out || !valid_matrix(w, 4)) return cudaErrorInvalidValue;
    return dispatch_dtype(out_dt, [&](auto to) {
        using TO = typename decltype(to)::type;
        return dispatch_dtype(w.scale_dt, [&](auto ts) {
            using TS = typename decltype(ts)::type;
            const MatArgs<TO, TS> a = weight_args<TO, TS>(w);
            const int64_t words = a.row_bytes / 4;
            const unsigned grid = grid_for(w.n * words, 256);
            if (w.bits == 4) nbits_dequantize_kernel<TO, TS, 4><<<grid, 256, 0, stream>>>(a, words, static_cast<TO*>(out));
            else nbits_dequantize_kernel<TO, TS, 8><<<grid, 256, 0, stream>>>(a, words, static_cast<TO*>(out));
            return launch_status();
        });
    });
}

}  // namespace mixq::gpu
