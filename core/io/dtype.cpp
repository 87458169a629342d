// SPDX-License-Identifier: MIT
// Bulk dtype conversion loops (vectorizable) used by the tensor readers and writers.
#include "core/io/dtype.h"

#include <cstring>

#include "core/common/half.h"

namespace mixq::io {

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::BF16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; ++i) {
                const uint32_t bits = static_cast<uint32_t>(s[i]) << 16;
                std::memcpy(dst + i, &bits, 4);
            }
            return;
        }
        case DType::F16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; ++i) dst[i] = f16_to_float(s[i]);
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
