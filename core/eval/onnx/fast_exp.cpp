// SPDX-License-Identifier: MIT
// The vectorized exp of fast_exp.h. Lanes and the scalar tail run the same operations, so a value's result does
// not depend on its position in the array.
#include "core/eval/onnx/fast_exp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MIXQ_FAST_EXP_AVX2 1
#endif

namespace mixq::eval::onnx {
namespace {

constexpr float kLog2e = 1.44269504088896341f, kC1 = 0.693359375f, kC2 = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;
constexpr float kMin = -87.0f;
constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding and removing it rounds to the nearest integer

#ifdef MIXQ_FAST_EXP_AVX2
inline __m256 exp8(__m256 x) {
    const __m256 xc = _mm256_max_ps(_mm256_set1_ps(kMin), x);  // this operand order keeps a NaN x
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(kLog2e), _mm256_set1_ps(kRound)), _mm256_set1_ps(kRound));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kC1), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kC2), r);
    __m256 y = _mm256_set1_ps(kP0);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP1));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP2));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP3));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP4));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(kP5));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 v = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(kMin), _CMP_LT_OQ), v);  // below −87: 0
}
#endif

}  // namespace

float exp_nonpositive(float x) {
    const float xc = std::max(x, kMin);
    const float n = std::fma(xc, kLog2e, kRound) - kRound;
    float r = std::fma(-n, kC1, xc);
    r = std::fma(-n, kC2, r);
    float y = kP0;
    y = std::fma(y, r, kP1);
    y = std::fma(y, r, kP2);
    y = std::fma(y, r, kP3);
    y = std::fma(y, r, kP4);
    y = std::fma(y, r, kP5);
    y = std::fma(y, r * r, r + 1.0f);
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float p2;
    std::memcpy(&p2, &bits, sizeof p2);
    return x < kMin ? 0.0f : y * p2;
}

float exp_shifted_sum(float* x, int64_t n, float shift) {
    int64_t j = 0;
    float sum = 0.0f;
#ifdef MIXQ_FAST_EXP_AVX2
    __m256 acc = _mm256_setzero_ps();
    const __m256 s = _mm256_set1_ps(shift);
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
        _mm256_storeu_ps(x + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    for (float l : lanes) sum += l;
#endif
    for (; j < n; ++j) sum += (x[j] = exp_nonpositive(x[j] - shift));
    return sum;
}

void sigmoid(const float* x, float* y, int64_t n) {
    // exp(−|x|) never overflows; then 1/(1+e) for x >= 0 and e/(1+e) below.
    int64_t j = 0;
#ifdef MIXQ_FAST_EXP_AVX2
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        const __m256 e = exp8(_mm256_or_ps(v, sign));  // −|v|
        const __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
        _mm256_storeu_ps(y + j, _mm256_div_ps(num, _mm256_add_ps(one, e)));
    }
#endif
    for (; j < n; ++j) {
        const float e = exp_nonpositive(-std::fabs(x[j]));
        y[j] = (x[j] < 0.0f ? e : 1.0f) / (1.0f + e);
    }
}

}  // namespace mixq::eval::onnx
