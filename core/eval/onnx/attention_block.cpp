// SPDX-License-Identifier: MIT
// Blocked attention rows of GroupQueryAttention (attention_block.h). The two GEMMs are small AVX2 register tiles
// (scores: 4 query rows x 2 keys, dot products along the head; P·V: 4 rows x 16 output columns) rather than Eigen
// products: Eigen would start its own OpenMP team for a large enough product outside a parallel region, and with the
// passive wait policy that wake-up costs more than a decode step's attention. Plain loops cover the rest (head sizes
// not a multiple of 8 or 16, builds without AVX2).
#include "core/eval/onnx/attention_block.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/eval/onnx/fast_exp.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MIXQ_ATTN_AVX2 1
#endif

namespace mixq::eval::onnx {
namespace {

constexpr int64_t kRows = 4;  ///< query rows per tile (the block is padded to a multiple)

#ifdef MIXQ_ATTN_AVX2
/// Sums of a0..a3 (8 lanes each) as one 4-lane vector.
inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// S[r][j], S[r][j+1] for the 4 rows of Q (D % 8 == 0): 8 accumulators along the head, then reduced.
inline void scores_4x2(const float* Q, int64_t D, const float* k0, const float* k1, float* S, int64_t lds) {
    __m256 a[8];
    for (auto& x : a) x = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) {
        const __m256 x0 = _mm256_loadu_ps(k0 + d), x1 = _mm256_loadu_ps(k1 + d);
        for (int r = 0; r < 4; ++r) {
            const __m256 q = _mm256_loadu_ps(Q + r * D + d);
            a[2 * r] = _mm256_fmadd_ps(q, x0, a[2 * r]);
            a[2 * r + 1] = _mm256_fmadd_ps(q, x1, a[2 * r + 1]);
        }
    }
    alignas(16) float lo[4], hi[4];
    _mm_store_ps(lo, hsum4(a[0], a[1], a[2], a[3]));  // r0k0 r0k1 r1k0 r1k1
    _mm_store_ps(hi, hsum4(a[4], a[5], a[6], a[7]));  // r2k0 r2k1 r3k0 r3k1
    S[0] = lo[0], S[1] = lo[1], S[lds] = lo[2], S[lds + 1] = lo[3];
    S[2 * lds] = hi[0], S[2 * lds + 1] = hi[1], S[3 * lds] = hi[2], S[3 * lds + 1] = hi[3];
}

/// out[r][c..c+16) = sum_j P[r][j]·V[j][c..c+16) for the 4 rows.
inline void pv_4x16(const float* P, int64_t ldp, int64_t nk, const float* V, int64_t D, float* out) {
    __m256 a[8];
    for (auto& x : a) x = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; ++j) {
        const __m256 v0 = _mm256_loadu_ps(V + j * D), v1 = _mm256_loadu_ps(V + j * D + 8);
        for (int r = 0; r < 4; ++r) {
            const __m256 p = _mm256_broadcast_ss(P + r * ldp + j);
            a[2 * r] = _mm256_fmadd_ps(p, v0, a[2 * r]);
            a[2 * r + 1] = _mm256_fmadd_ps(p, v1, a[2 * r + 1]);
        }
    }
    for (int r = 0; r < 4; ++r) {
        _mm256_storeu_ps(out + r * D, a[2 * r]);
        _mm256_storeu_ps(out + r * D + 8, a[2 * r + 1]);
    }
}
#endif

/// Scores of rows [0, rows_pad) (Q padded with zero rows) against keys K[0, nk): S is rows_pad x ldk.
void scores(const float* Q, int64_t rows_pad, const float* K, int64_t nk, int64_t D, float* S, int64_t ldk) {
    int64_t j0 = 0;
#ifdef MIXQ_ATTN_AVX2
    if (D % 8 == 0) {
        for (int64_t r = 0; r < rows_pad; r += kRows) {
            int64_t j = 0;
            for (; j + 2 <= nk; j += 2) scores_4x2(Q + r * D, D, K + j * D, K + (j + 1) * D, S + r * ldk + j, ldk);
            if (j < nk) {  // an odd last key: computed twice into a scratch pair
                float pair[kRows * 2];
                scores_4x2(Q + r * D, D, K + j * D, K + j * D, pair, 2);
                for (int64_t rr = 0; rr < kRows; ++rr) S[(r + rr) * ldk + j] = pair[rr * 2];
            }
        }
        return;
    }
#endif
    for (int64_t r = 0; r < rows_pad; ++r)
        for (int64_t j = j0; j < nk; ++j) {
            float acc = 0.0f;
            for (int64_t d = 0; d < D; ++d) acc += Q[r * D + d] * K[j * D + d];
            S[r * ldk + j] = acc;
        }
}

/// out = P·V for rows [0, rows_pad): P is rows_pad x ldp (nk used), V nk x D, out rows_pad x D.
void weighted_values(const float* P, int64_t rows_pad, int64_t ldp, const float* V, int64_t nk, int64_t D, float* out) {
    int64_t c0 = 0;
#ifdef MIXQ_ATTN_AVX2
    c0 = D / 16 * 16;
    for (int64_t r = 0; r < rows_pad; r += kRows)
        for (int64_t c = 0; c < c0; c += 16) pv_4x16(P + r * ldp, ldp, nk, V + c, D, out + r * D + c);
#endif
    for (int64_t r = 0; r < rows_pad; ++r) {
        std::fill(out + r * D + c0, out + (r + 1) * D, 0.0f);
        for (int64_t j = 0; j < nk; ++j) {
            const float p = P[r * ldp + j];
            for (int64_t c = c0; c < D; ++c) out[r * D + c] += p * V[j * D + c];
        }
    }
}

}  // namespace

void attend_rows(const float* Q, int64_t rows, const int64_t* start, const int64_t* end, const float* K,
                 const float* V, const AttentionParams& p, AttentionScratch& scratch, float* out) {
    const int64_t D = p.D;
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
    for (int64_t r = 0; r < rows; ++r)
        if (end[r] > start[r]) {
            lo = std::min(lo, start[r]);
            hi = std::max(hi, end[r]);
        }
    if (hi <= lo) {
        std::fill(out, out + rows * D, 0.0f);
        return;
    }
    const int64_t nk = hi - lo, ldk = nk;
    const int64_t rows_pad = (rows + kRows - 1) / kRows * kRows;
    // Scratch: scores [rows_pad][ldk], Q padded [rows_pad][D], out padded [rows_pad][D].
    auto& sc = scratch.scores;
    sc.resize(static_cast<size_t>(rows_pad * ldk + 2 * rows_pad * D));
    float* S = sc.data();
    float* Qp = S + rows_pad * ldk;
    float* Op = Qp + rows_pad * D;
    std::memcpy(Qp, Q, static_cast<size_t>(rows * D) * sizeof(float));
    std::fill(Qp + rows * D, Qp + rows_pad * D, 0.0f);
    scores(Qp, rows_pad, K + lo * D, nk, D, S, ldk);
    auto& inv = scratch.inv_sum;
    inv.assign(static_cast<size_t>(rows_pad), 0.0f);
    for (int64_t r = 0; r < rows_pad; ++r) {
        float* s = S + r * ldk;
        const int64_t a = r < rows ? std::max<int64_t>(start[r] - lo, 0) : 0;
        const int64_t b = r < rows ? std::min<int64_t>(end[r] - lo, nk) : 0;
        if (b <= a) {  // no keys (or a padding row): a zero output row
            std::fill(s, s + ldk, 0.0f);
            continue;
        }
        std::fill(s, s + a, 0.0f);  // keys of other rows' ranges weigh 0 in this row's P·V
        std::fill(s + b, s + ldk, 0.0f);
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = a; j < b; ++j) {
            float v = s[j] * p.scale;
            if (p.softcap > 0.0f) v = p.softcap * std::tanh(v / p.softcap);
            s[j] = v;
            mx = std::max(mx, v);
        }
        if (p.smooth) mx = std::max(mx, 0.0f);
        float sum = exp_shifted_sum(s + a, b - a, mx);
        if (p.smooth) sum += std::exp(0.0f - mx);
        inv[static_cast<size_t>(r)] = 1.0f / sum;
    }
    weighted_values(S, rows_pad, ldk, V + lo * D, nk, D, Op);
    for (int64_t r = 0; r < rows; ++r) {
        const float w = inv[static_cast<size_t>(r)];
        for (int64_t c = 0; c < D; ++c) out[r * D + c] = Op[r * D + c] * w;
    }
}

}  // namespace mixq::eval::onnx
