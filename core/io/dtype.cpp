// SPDX-License-Identifier: MIT
// Bulk dtype conversion loops used by the tensor readers and writers and by the engine's 16-bit matrix kernels
// (BF16 widens by a 16-bit shift, F16 by F16C's vcvtph2ps, eight at a time; any alignment).
#include "core/io/dtype.h"

#include <cstring>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#define MIXQ_DTYPE_AVX2 1
#endif

#include "core/common/half.h"

namespace mixq::io {
namespace {
/// Element i of a 16-bit array that may be unaligned: safetensors does not require the header to pad the data
/// section to an even offset (found by fuzz_model_folder: a misaligned uint16_t load is undefined behaviour).
inline uint16_t load_u16(const void* src, size_t i) {
    uint16_t v;
    std::memcpy(&v, static_cast<const unsigned char*>(src) + 2 * i, 2);
    return v;
}
}  // namespace

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
    size_t i = 0;
#ifdef MIXQ_DTYPE_AVX2
    const auto* bytes = static_cast<const unsigned char*>(src);
    if (t == DType::BF16)
        for (; i + 8 <= n; i += 8) {
            const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 2 * i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        }
    else if (t == DType::F16)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 2 * i))));
#endif
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::BF16: {
            for (; i < n; ++i) {
                const uint32_t bits = static_cast<uint32_t>(load_u16(src, i)) << 16;
                std::memcpy(dst + i, &bits, 4);
            }
            return;
        }
        case DType::F16: {
            for (; i < n; ++i) dst[i] = f16_to_float(load_u16(src, i));
            return;
        }
    }
}

void convert_from_f32(DType t, const float* src, void* dst, size_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::BF16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (size_t i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
            return;
        }
        case DType::F16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (size_t i = 0; i < n; ++i) d[i] = float_to_f16(src[i]);
            return;
        }
    }
}

}  // namespace mixq::io
