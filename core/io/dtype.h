// SPDX-License-Identifier: MIT
// Element types of tensors in model files, with names as safetensors spells them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mixq::io {

enum class DType { F32, F16, BF16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
    }
    return "?";
}
/// Parses "F32"/"F16"/"BF16"; returns false for any other safetensors dtype.
inline bool parse_dtype(const std::string& s, DType& out) {
    if (s == "F32") out = DType::F32;
    else if (s == "F16") out = DType::F16;
    else if (s == "BF16") out = DType::BF16;
    else return false;
    return true;
}

/// Converts `n` elements of type `t` starting at `src` to fp32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
/// Converts `n` fp32 values to type `t` (round to nearest even).
void convert_from_f32(DType t, const float* src, void* dst, size_t n);

}  // namespace mixq::io
