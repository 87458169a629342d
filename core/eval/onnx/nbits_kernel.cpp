// SPDX-License-Identifier: MIT
// MatMulNBits kernels: code unpacking (AVX2 when compiled for it, scalar otherwise), row dequantization and the
// fused few-rows product (AVX2: codes unpacked into registers, vector accumulators across blocks; otherwise codes
// unpacked once per block, then one vectorized dot per activation row).
#include "core/eval/onnx/nbits_kernel.h"

#include <algorithm>
#include <vector>

#include "core/engine/tensor.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace mixq::eval::onnx {
namespace {

/// Unpacks `len` codes of a block into floats (no scale, no zero point).
void unpack_codes(const uint8_t* blk, int bits, int64_t len, float* out) {
    int64_t j = 0;
#if defined(__AVX2__)
    if (bits == 4) {
        const __m128i mask = _mm_set1_epi8(0x0F);
        for (; j + 16 <= len; j += 16) {
            const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + j / 2));
            const __m128i lo = _mm_and_si128(b, mask);
            const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
            const __m128i q = _mm_unpacklo_epi8(lo, hi);  // q0 q1 ... q15 in element order
            _mm256_storeu_ps(out + j, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)));
            _mm256_storeu_ps(out + j + 8, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8))));
        }
    } else if (bits == 8) {
        for (; j + 8 <= len; j += 8) {
            const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + j));
            _mm256_storeu_ps(out + j, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
        }
    }
#endif
    const int per = 8 / bits, mask = (1 << bits) - 1;
    for (; j < len; ++j) out[j] = static_cast<float>((blk[j / per] >> ((j % per) * bits)) & mask);
}

}  // namespace

void nbits_dequant_row(const NBitsMatrix& w, int64_t row, float* out) {
    const uint8_t* r = w.codes + row * w.k_blocks * w.blob;
    for (int64_t b = 0; b < w.k_blocks; ++b) {
        const int64_t k0 = b * w.block_size, len = std::min(w.block_size, w.k - k0);
        const float s = w.scales[row * w.k_blocks + b], z = w.zero_point(row, b);
        float* o = out + k0;
        unpack_codes(r + b * w.blob, w.bits, len, o);
        for (int64_t j = 0; j < len; ++j) o[j] = (o[j] - z) * s;  // (q − zp) · scale, exact for integer zp
    }
}

#if defined(__AVX2__)
namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Codes j .. j+15 of a 4- or 8-bit block as two float vectors.
inline void load16(const uint8_t* blk, int64_t j, int bits, __m256& q0, __m256& q1) {
    if (bits == 4) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + j / 2));
        const __m128i mask = _mm_set1_epi8(0x0F);
        const __m128i q = _mm_unpacklo_epi8(_mm_and_si128(b, mask), _mm_and_si128(_mm_srli_epi16(b, 4), mask));
        q0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
        q1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
    } else {
        q0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + j))));
        q1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + j + 8))));
    }
}

/// AVX2 path for 4/8-bit codes and M <= 8 (a compile-time count, so the accumulators stay in registers):
/// vector accumulators across blocks, one horizontal sum per output.
template <int M>
void fused_rows_avx2(const NBitsMatrix& w, const float* a, const float* a_sums, float* y, int64_t ldy, int64_t row0,
                     int64_t row1) {
    const int per = 8 / w.bits, mask = (1 << w.bits) - 1;
    for (int64_t n = row0; n < row1; ++n) {
        const uint8_t* r = w.codes + n * w.k_blocks * w.blob;
        __m256 acc[M];
        float rest[M];
        for (int m = 0; m < M; ++m) {
            acc[m] = _mm256_setzero_ps();
            rest[m] = 0.0f;
        }
        for (int64_t b = 0; b < w.k_blocks; ++b) {
            const int64_t k0 = b * w.block_size, len = std::min(w.block_size, w.k - k0);
            const float s = w.scales[n * w.k_blocks + b], z = w.zero_point(n, b);
            const uint8_t* blk = r + b * w.blob;
            __m256 tmp[M];
            for (int m = 0; m < M; ++m) tmp[m] = _mm256_setzero_ps();
            int64_t j = 0;
            for (; j + 16 <= len; j += 16) {
                __m256 q0, q1;
                load16(blk, j, w.bits, q0, q1);
                for (int m = 0; m < M; ++m) {
                    const float* am = a + m * w.k + k0 + j;
                    tmp[m] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(am), tmp[m]);
                    tmp[m] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(am + 8), tmp[m]);
                }
            }
            const __m256 sv = _mm256_set1_ps(s);
            for (int m = 0; m < M; ++m) {
                acc[m] = _mm256_fmadd_ps(tmp[m], sv, acc[m]);
                rest[m] -= s * z * a_sums[m * w.k_blocks + b];
            }
            for (; j < len; ++j) {  // partial last block
                const float q = static_cast<float>((blk[j / per] >> ((j % per) * w.bits)) & mask);
                for (int m = 0; m < M; ++m) rest[m] += s * q * a[m * w.k + k0 + j];
            }
        }
        for (int m = 0; m < M; ++m) y[m * ldy + n] = hsum(acc[m]) + rest[m];
    }
}

}  // namespace
#endif

void nbits_fused_rows(const NBitsMatrix& w, const float* a, const float* a_sums, int64_t M, float* y, int64_t ldy,
                      int64_t row0, int64_t row1) {
#if defined(__AVX2__)
    if (w.bits == 4 || w.bits == 8) {
        switch (M) {
            case 1: return fused_rows_avx2<1>(w, a, a_sums, y, ldy, row0, row1);
            case 2: return fused_rows_avx2<2>(w, a, a_sums, y, ldy, row0, row1);
            case 3: return fused_rows_avx2<3>(w, a, a_sums, y, ldy, row0, row1);
            case 4: return fused_rows_avx2<4>(w, a, a_sums, y, ldy, row0, row1);
            case 5: return fused_rows_avx2<5>(w, a, a_sums, y, ldy, row0, row1);
            case 6: return fused_rows_avx2<6>(w, a, a_sums, y, ldy, row0, row1);
            case 7: return fused_rows_avx2<7>(w, a, a_sums, y, ldy, row0, row1);
            case 8: return fused_rows_avx2<8>(w, a, a_sums, y, ldy, row0, row1);
            default: break;
        }
    }
#endif
    using Vec = Eigen::Map<const Eigen::VectorXf>;
    std::vector<float> q(static_cast<size_t>(w.block_size));
    for (int64_t n = row0; n < row1; ++n) {
        const uint8_t* r = w.codes + n * w.k_blocks * w.blob;
        for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = 0.0f;
        for (int64_t b = 0; b < w.k_blocks; ++b) {
            const int64_t k0 = b * w.block_size, len = std::min(w.block_size, w.k - k0);
            const float s = w.scales[n * w.k_blocks + b], z = w.zero_point(n, b);
            unpack_codes(r + b * w.blob, w.bits, len, q.data());
            const Vec qv(q.data(), len);
            for (int64_t m = 0; m < M; ++m) {
                const float d = qv.dot(Vec(a + m * w.k + k0, len));
                y[m * ldy + n] += s * (d - z * a_sums[m * w.k_blocks + b]);
            }
        }
    }
}

}  // namespace mixq::eval::onnx
