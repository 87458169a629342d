// SPDX-License-Identifier: MIT
// HalfLinear kernels: BF16 widens by a 16-bit shift, F16 by F16C's vcvtph2ps; decode rows are dot products with
// the conversion in registers (AVX2 + FMA), prefill converts 64-row panels of W into a per-thread fp32 buffer and
// runs Eigen's GEMM on them, with the same fixed block boundaries as matmul_wt (results independent of threads).
#include "core/engine/half_linear.h"

#include <algorithm>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define MIXQ_HALF_AVX2 1
#endif

#include "core/common/half.h"
#include "core/engine/act_quant.h"
#include "core/io/dtype.h"

namespace mixq::engine {
namespace {

void widen(const uint16_t* src, float* dst, int64_t n, io::DType dtype) {
    io::convert_to_f32(dtype, src, dst, static_cast<size_t>(n));  // the one vectorized conversion
}

#ifdef MIXQ_HALF_AVX2
inline __m256 load8(const uint16_t* p, io::DType dtype) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (dtype == io::DType::BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#endif

/// y[t, n] = x[t, :]·w[n, :] for T ≤ 4 rows of x: W is read once, converted in registers.
void few_rows(const float* x, int64_t T, const uint16_t* w, int64_t N, int64_t K, io::DType dtype, float* y) {
#pragma omp parallel for schedule(static) if (N * K > 65536)
    for (int64_t n = 0; n < N; ++n) {
        const uint16_t* wr = w + n * K;
        float acc[4] = {0, 0, 0, 0};
        int64_t k = 0;
#ifdef MIXQ_HALF_AVX2
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (; k + 8 <= K; k += 8) {
            const __m256 wv = load8(wr + k, dtype);
            for (int64_t t = 0; t < T; ++t) a[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * K + k), a[t]);
        }
        for (int64_t t = 0; t < T; ++t) acc[t] = hsum(a[t]);
#endif
        for (; k < K; ++k) {
            const float wv = dtype == io::DType::BF16 ? bf16_to_float(wr[k]) : f16_to_float(wr[k]);
            for (int64_t t = 0; t < T; ++t) acc[t] += wv * x[t * K + k];
        }
        for (int64_t t = 0; t < T; ++t) y[t * N + n] = acc[t];
    }
}

}  // namespace

void matmul_wt_half(const RowMatrix& x, const uint16_t* w, int64_t N, int64_t K, io::DType dtype, RowMatrix& y) {
    const int64_t T = x.rows();
    y.resize(T, N);
    if (T <= 4) return few_rows(x.data(), T, w, N, K, dtype, y.data());
    constexpr int64_t kRows = 64;
#pragma omp parallel
    {
        RowMatrix panel(kRows, K);  // this thread's fp32 copy of one block of W
#pragma omp for schedule(static)
        for (int64_t b = 0; b < N; b += kRows) {
            const int64_t nb = std::min(kRows, N - b);
            widen(w + b * K, panel.data(), nb * K, dtype);
            y.middleCols(b, nb).noalias() = x * panel.topRows(nb).transpose();
        }
    }
}

RowMatrix gather_rows_half(const uint16_t* table, int64_t K, io::DType dtype, const std::vector<int>& ids) {
    RowMatrix h(static_cast<int64_t>(ids.size()), K);
    for (size_t t = 0; t < ids.size(); ++t) widen(table + static_cast<int64_t>(ids[t]) * K, h.row(t).data(), K, dtype);
    return h;
}

HalfLinear::HalfLinear(const uint16_t* w, int64_t n, int64_t k, io::DType dtype, std::shared_ptr<const void> keep_alive,
                       std::optional<Vector> bias, int64_t act_block)
    : m_w(w), m_n(n), m_k(k), m_dtype(dtype), m_keep_alive(std::move(keep_alive)), m_bias(std::move(bias)),
      m_act_block(act_block) {}

void HalfLinear::forward(const RowMatrix& x, RowMatrix& y) const {
    if (m_act_block > 0) {
        RowMatrix xq = x;
        fake_quantize_activation_rows(xq.data(), xq.rows(), xq.cols(), m_act_block);
        matmul_wt_half(xq, m_w, m_n, m_k, m_dtype, y);
    } else {
        matmul_wt_half(x, m_w, m_n, m_k, m_dtype, y);
    }
    if (m_bias) y.rowwise() += m_bias->transpose();
}

RowMatrix HalfLinear::to_f32() const {
    RowMatrix m(m_n, m_k);
    widen(m_w, m.data(), m_n * m_k, m_dtype);
    return m;
}

}  // namespace mixq::engine
