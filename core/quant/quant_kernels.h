// SPDX-License-Identifier: MIT
// Inner loops of the block quantizers (internal to core/quant): the MLAS code rule clamp(roundf(x·r + zp)) and the
// weighted sums the k-quant search needs, with an AVX2 path and a scalar fallback that give the same codes.
#pragma once
#include <cstdint>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace mixq::quant::kernels {

/// Returns v unchanged but opaque to the optimizer, so that x·r + zp is rounded twice (product, then sum) even where
/// the compiler would contract it into a fused multiply-add (GCC contracts across statements by default in C++).
inline float no_contract(float v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+x"(v));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__("" : "+w"(v));
#else
    volatile float t = v;
    v = t;
#endif
    return v;
}

/// clamp(roundf(v), lo, hi) for integer-valued lo ≤ hi, exact: v is first clamped to [lo − 1, hi + 1] (which does
/// not change the result), so the int conversion is safe and v − trunc(v) is exact.
inline float round_clamp(float v, float lo, float hi) {
    v = v >= lo - 1.0f ? v : lo - 1.0f;  // NaN → lo − 1, as _mm256_max_ps(v, lo − 1) does
    v = v > hi + 1.0f ? hi + 1.0f : v;
    const float t = static_cast<float>(static_cast<int>(v));
    const float d = v - t;
    float q = t + (d >= 0.5f ? 1.0f : 0.0f) - (d <= -0.5f ? 1.0f : 0.0f);
    q = q < lo ? lo : q;
    return q > hi ? hi : q;
}

#if defined(__AVX2__)
inline __m256 round_clamp8(__m256 v, __m256 lo, __m256 hi) {
    const __m256 one = _mm256_set1_ps(1.0f);
    v = _mm256_max_ps(v, _mm256_sub_ps(lo, one));
    v = _mm256_min_ps(v, _mm256_add_ps(hi, one));
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 d = _mm256_sub_ps(v, t);
    const __m256 up = _mm256_and_ps(_mm256_cmp_ps(d, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one);
    const __m256 down = _mm256_and_ps(_mm256_cmp_ps(d, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), one);
    __m256 q = _mm256_sub_ps(_mm256_add_ps(t, up), down);
    q = _mm256_max_ps(q, lo);
    return _mm256_min_ps(q, hi);
}

inline __m256 no_contract8(__m256 v) {
    __asm__("" : "+x"(v));
    return v;
}

inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#endif

/// Minimum and maximum of x[0..len) (len ≥ 1, finite values). Zeros may come back with either sign.
inline void min_max(const float* x, int len, float& mn, float& mx) {
    int i = 0;
    float lo = x[0], hi = x[0];
#if defined(__AVX2__)
    if (len >= 8) {
        __m256 vlo = _mm256_loadu_ps(x), vhi = vlo;
        for (i = 8; i + 8 <= len; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            vlo = _mm256_min_ps(vlo, v);
            vhi = _mm256_max_ps(vhi, v);
        }
        alignas(32) float a[8], b[8];
        _mm256_store_ps(a, vlo);
        _mm256_store_ps(b, vhi);
        for (int j = 0; j < 8; ++j) {
            lo = a[j] < lo ? a[j] : lo;
            hi = b[j] > hi ? b[j] : hi;
        }
    }
#endif
    for (; i < len; ++i) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    mn = lo;
    mx = hi;
}

/// True when every x[i] is finite (x·0 is 0 for finite x and NaN for ±inf and NaN).
inline bool all_finite(const float* x, int64_t len) {
    int64_t i = 0;
    float acc = 0.0f;
#if defined(__AVX2__)
    __m256 vacc = _mm256_setzero_ps();
    const __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= len; i += 8) vacc = _mm256_add_ps(vacc, _mm256_mul_ps(_mm256_loadu_ps(x + i), zero));
    acc = hsum8(vacc);
#endif
    for (; i < len; ++i) acc += x[i] * 0.0f;
    return acc == 0.0f;
}

/// codes[i] = clamp(roundf(x[i]·r + zp), 0, kmax), the product and the sum rounded separately (no FMA).
inline void encode(const float* x, int len, float r, float zp, float kmax, uint8_t* codes) {
    int i = 0;
#if defined(__AVX2__)
    const __m256 vr = _mm256_set1_ps(r), vz = _mm256_set1_ps(zp), lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(kmax);
    for (; i + 8 <= len; i += 8) {
        const __m256 v = _mm256_add_ps(no_contract8(_mm256_mul_ps(_mm256_loadu_ps(x + i), vr)), vz);
        const __m256i q = _mm256_cvtps_epi32(round_clamp8(v, lo, hi));  // exact: q is integral
        alignas(32) int32_t tmp[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), q);
        for (int j = 0; j < 8; ++j) codes[i + j] = static_cast<uint8_t>(tmp[j]);
    }
#endif
    for (; i < len; ++i) {
        float v = no_contract(x[i] * r);
        v = v + zp;
        codes[i] = static_cast<uint8_t>(static_cast<int>(round_clamp(v, 0.0f, kmax)));
    }
}

/// Σ w[i]·(x[i] − (q[i] − zp)·s)² with q the codes of encode(); fp32 sums.
inline float weighted_error(const float* x, const float* w, int len, float s, float r, float zp, float kmax) {
    int i = 0;
    float acc = 0.0f;
#if defined(__AVX2__)
    const __m256 vr = _mm256_set1_ps(r), vz = _mm256_set1_ps(zp), vs = _mm256_set1_ps(s);
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(kmax);
    __m256 vacc = _mm256_setzero_ps();
    for (; i + 8 <= len; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 q = round_clamp8(_mm256_add_ps(no_contract8(_mm256_mul_ps(xv, vr)), vz), lo, hi);
        const __m256 d = _mm256_sub_ps(xv, _mm256_mul_ps(_mm256_sub_ps(q, vz), vs));
        vacc = _mm256_add_ps(vacc, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(d, d)));
    }
    acc = hsum8(vacc);
#endif
    for (; i < len; ++i) {
        float v = no_contract(x[i] * r);
        v = v + zp;
        const float q = round_clamp(v, 0.0f, kmax);
        const float d = x[i] - (q - zp) * s;
        acc += w[i] * (d * d);
    }
    return acc;
}

/// The same error accumulated in double (w == nullptr: unit weights): d = double(x) − double(dq) with
/// dq = (q − zp)·s in fp32, the value dequantization produces.
inline double weighted_error_f64(const float* x, const float* w, int len, float s, float r, float zp, float kmax) {
    int i = 0;
    double acc = 0.0;
#if defined(__AVX2__)
    const __m256 vr = _mm256_set1_ps(r), vz = _mm256_set1_ps(zp), vs = _mm256_set1_ps(s);
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(kmax);
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    for (; i + 8 <= len; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 q = round_clamp8(_mm256_add_ps(no_contract8(_mm256_mul_ps(xv, vr)), vz), lo, hi);
        const __m256 dq = _mm256_mul_ps(_mm256_sub_ps(q, vz), vs);
        const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(xv)),
                                         _mm256_cvtps_pd(_mm256_castps256_ps128(dq)));
        const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)),
                                         _mm256_cvtps_pd(_mm256_extractf128_ps(dq, 1)));
        __m256d w0 = _mm256_set1_pd(1.0), w1 = w0;
        if (w) {
            const __m256 wv = _mm256_loadu_ps(w + i);
            w0 = _mm256_cvtps_pd(_mm256_castps256_ps128(wv));
            w1 = _mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1));
        }
        acc0 = _mm256_add_pd(acc0, _mm256_mul_pd(w0, _mm256_mul_pd(d0, d0)));
        acc1 = _mm256_add_pd(acc1, _mm256_mul_pd(w1, _mm256_mul_pd(d1, d1)));
    }
    alignas(32) double t[4];
    _mm256_store_pd(t, _mm256_add_pd(acc0, acc1));
    acc = (t[0] + t[1]) + (t[2] + t[3]);
#endif
    for (; i < len; ++i) {
        float v = no_contract(x[i] * r);
        v = v + zp;
        const float q = round_clamp(v, 0.0f, kmax);
        const float dq = (q - zp) * s;
        const double d = static_cast<double>(x[i]) - static_cast<double>(dq);
        acc += (w ? static_cast<double>(w[i]) : 1.0) * d * d;
    }
    return acc;
}

/// Weighted sums for least-squares fits over the codes l = round_clamp(x·a + b, lo, hi) − off:
/// sl = Σ w·l, sll = Σ w·l², sxl = Σ w·x·l.
inline void code_sums(const float* x, const float* w, int len, float a, float b, float lo, float hi, float off,
                      float& sl, float& sll, float& sxl) {
    int i = 0;
    float s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#if defined(__AVX2__)
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const __m256 voff = _mm256_set1_ps(off);
    __m256 a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; i + 8 <= len; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        const __m256 l = _mm256_sub_ps(round_clamp8(_mm256_add_ps(no_contract8(_mm256_mul_ps(xv, va)), vb), vlo, vhi), voff);
        const __m256 wl = _mm256_mul_ps(_mm256_loadu_ps(w + i), l);
        a1 = _mm256_add_ps(a1, wl);
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(wl, l));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(wl, xv));
    }
    s1 = hsum8(a1);
    s2 = hsum8(a2);
    s3 = hsum8(a3);
#endif
    for (; i < len; ++i) {
        float v = no_contract(x[i] * a);
        v = v + b;
        const float l = round_clamp(v, lo, hi) - off;
        const float wl = w[i] * l;
        s1 += wl;
        s2 += wl * l;
        s3 += wl * x[i];
    }
    sl = s1;
    sll = s2;
    sxl = s3;
}

}  // namespace mixq::quant::kernels
