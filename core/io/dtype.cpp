// SPDX-License-Identifier: MIT
// Bulk dtype conversion loops (vectorizable) used by the tensor readers and writers.
#include "core/io/dtype.h"

#include <cstring>

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
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::BF16: {
            for (size_t i = 0; i < n; ++i) {
                const uint32_t bits = static_cast<uint32_t>(load_u16(src, i)) << 16;
                std::memcpy(dst + i, &bits, 4);
            }
            return;
        }
        case DType::F16: {
            for (size_t i = 0; i < n; ++i) dst[i] = f16_to_float(load_u16(src, i));
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
