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

namespace {

/// Codes of one block shifted to signed (q − mid, mid = 2^(bits−1)), zero beyond `len` (block_size values).
void signed_codes(const uint8_t* blk, int bits, int64_t len, int64_t block, int8_t* out) {
    const int mid = 1 << (bits - 1);
    int64_t j = 0;
#if defined(__AVX2__)
    if (bits == 4) {
        const __m128i mask = _mm_set1_epi8(0x0F), m8 = _mm_set1_epi8(8);
        for (; j + 32 <= len; j += 32) {
            const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + j / 2));
            const __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm_sub_epi8(_mm_unpacklo_epi8(lo, hi), m8));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j + 16), _mm_sub_epi8(_mm_unpackhi_epi8(lo, hi), m8));
        }
    } else if (bits == 8) {
        const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
        for (; j + 32 <= len; j += 32)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j),
                                _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + j)), flip));
    }
#endif
    const int per = 8 / bits, mask = (1 << bits) - 1;
    for (; j < len; ++j) out[j] = static_cast<int8_t>(((blk[j / per] >> ((j % per) * bits)) & mask) - mid);
    for (; j < block; ++j) out[j] = 0;
}

#if defined(__AVX2__)
/// Σ a[i]·w[i] over n (a multiple of 16) int8 values, exactly, as 8 int32 lanes (summed by the caller in float).
inline __m256i dot_i8(const int8_t* a, const int8_t* w, int64_t n) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i));
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
        // |w| (unsigned) times a·sign(w) (signed): products <= 128·127, pair sums fit int16.
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv)), ones));
    }
    if (i < n) {  // a 16-value tail (block size 16)
        const __m128i wv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i));
        const __m128i av = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
        const __m128i p = _mm_madd_epi16(_mm_maddubs_epi16(_mm_abs_epi8(wv), _mm_sign_epi8(av, wv)), _mm_set1_epi16(1));
        acc = _mm256_add_epi32(acc, _mm256_zextsi128_si256(p));
    }
    return acc;
}
#endif

#if defined(__AVX2__)
/// Codes j .. j+31 of a 4- or 8-bit block, shifted to signed (q − 2^(bits−1)), built in a register (a buffer
/// written in halves and read whole would stall store forwarding on every block).
inline __m256i signed_codes32(const uint8_t* blk, int64_t j, int bits) {
    if (bits == 4) {
        const __m128i mask = _mm_set1_epi8(0x0F);
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + j / 2));
        const __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
        const __m256i q = _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    }
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + j)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
}

/// Σ a·(q − mid) over a whole block of `bs` (a multiple of 32) codes, as 8 int32 lanes.
inline __m256i block_dot32(const int8_t* a, const uint8_t* blk, int64_t bs, int bits) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t j = 0; j < bs; j += 32) {
        const __m256i wv = signed_codes32(blk, j, bits);
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + j));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv)), ones));
    }
    return acc;
}
#endif

/// Zero point of (row, block) as an integer, without the generic accessor's divisions.
inline int32_t zero_point_of(const NBitsMatrix& w, int64_t row, int64_t b) {
    if (!w.zp_packed) return 1 << (w.bits - 1);
    const uint8_t* z = w.zp_packed + row * w.zp_row_bytes;
    return w.bits == 8 ? z[b] : (z[b >> 1] >> ((b & 1) * 4)) & 15;
}

}  // namespace

void nbits_int8_rows(const NBitsMatrix& w, const int8_t* qa, const float* sa, const int32_t* qsum, int64_t M, float* y,
                     int64_t ldy, int64_t row0, int64_t row1) {
    const int64_t bs = w.block_size, kb = w.k_blocks, kpad = kb * bs;
    const int32_t mid = 1 << (w.bits - 1);
    std::vector<int8_t> wq(static_cast<size_t>(bs));
    constexpr int64_t kMaxM = 8;
    for (int64_t m0 = 0; m0 < M; m0 += kMaxM) {
        const int64_t mm = std::min(kMaxM, M - m0);
        for (int64_t n = row0; n < row1; ++n) {
            const uint8_t* r = w.codes + n * kb * w.blob;
            float corr[kMaxM] = {};
#if defined(__AVX2__)
            __m256 acc[kMaxM];
            for (int64_t m = 0; m < mm; ++m) acc[m] = _mm256_setzero_ps();
#else
            float acc[kMaxM] = {};
#endif
            for (int64_t b = 0; b < kb; ++b) {
                const bool whole = bs % 32 == 0 && (b + 1) * bs <= w.k;  // codes straight into registers
                if (!whole) signed_codes(r + b * w.blob, w.bits, std::min(bs, w.k - b * bs), bs, wq.data());
                const float s = w.scales[n * kb + b];
                // Σ qa·(q − zp) = Σ qa·(q − mid) + (mid − zp)·Σ qa
                const int32_t shift = mid - zero_point_of(w, n, b);
                for (int64_t m = 0; m < mm; ++m) {
                    const int64_t mi = m0 + m;
                    const float f = sa[mi * kb + b] * s;
                    const int8_t* a = qa + mi * kpad + b * bs;
#if defined(__AVX2__)
                    const __m256i d = whole ? block_dot32(a, r + b * w.blob, bs, w.bits) : dot_i8(a, wq.data(), bs);
                    acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(f), acc[m]);
#else
                    int32_t d = 0;
                    for (int64_t i = 0; i < bs; ++i) d += int32_t(a[i]) * int32_t(wq[static_cast<size_t>(i)]);
                    acc[m] += f * static_cast<float>(d);
#endif
                    corr[m] += f * static_cast<float>(shift * qsum[mi * kb + b]);
                }
            }
            for (int64_t m = 0; m < mm; ++m) {
#if defined(__AVX2__)
                y[(m0 + m) * ldy + n] = hsum(acc[m]) + corr[m];
#else
                y[(m0 + m) * ldy + n] = acc[m] + corr[m];
#endif
            }
        }
    }
}

}  // namespace mixq::eval::onnx
