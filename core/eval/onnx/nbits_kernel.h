// SPDX-License-Identifier: MIT
// Kernels for a MatMulNBits weight held in its packed form ([N, k_blocks, blob] codes, low bits first): a row
// dequantized to fp32, and a fused product for few activation rows (decode) that never forms fp32 weights:
// y[m, n] = Σ_b scale[n, b] · (Σ_j a[m, k] · q[n, k] − zp[n, b] · Σ_j a[m, k]) over the K elements of block b.
#pragma once
#include <cstdint>

namespace mixq::eval::onnx {

struct NBitsMatrix {
    int64_t n = 0, k = 0, k_blocks = 0, blob = 0, block_size = 0;
    int bits = 4;
    const uint8_t* codes = nullptr;    ///< [n, k_blocks, blob]
    const float* scales = nullptr;     ///< [n, k_blocks]
    const uint8_t* zp_packed = nullptr;  ///< [n, zp_row_bytes], `bits` per value, or null
    const float* zp_values = nullptr;    ///< [n, k_blocks] float zero points, or null
    int64_t zp_row_bytes = 0;
    float zp_default = 8.0f;

    float zero_point(int64_t row, int64_t block) const {
        if (zp_values) return zp_values[row * k_blocks + block];
        if (!zp_packed) return zp_default;
        const int per = 8 / bits;
        const uint8_t byte = zp_packed[row * zp_row_bytes + block / per];
        return static_cast<float>((byte >> ((block % per) * bits)) & ((1 << bits) - 1));
    }
};

/// Row `row` of the weight as fp32: out[k] = (q − zp) · scale, k < K.
void nbits_dequant_row(const NBitsMatrix& w, int64_t row, float* out);

/// y[m·ldy + row] for rows [row0, row1) and m < M, from activations a [M, K] (row-major) and their per-block
/// sums a_sums [M, k_blocks]. Single-threaded; callers split the rows.
void nbits_fused_rows(const NBitsMatrix& w, const float* a, const float* a_sums, int64_t M, float* y, int64_t ldy,
                      int64_t row0, int64_t row1);

/// accuracy_level 4 (MLAS CompInt8) for rows [row0, row1) and m < M: activations given as int8 codes `qa`
/// [M, k_blocks·block_size] (partial last block zero-padded), block scales `sa` and code sums `qsum` [M, k_blocks]
/// (engine::quantize_activation_row); y = Σ_b sa·scale·(Σ qa·q − zp·Σ qa) with the inner sums in exact int32
/// (AVX2 maddubs on codes shifted to signed). 4- and 8-bit codes with packed or default zero points only.
void nbits_int8_rows(const NBitsMatrix& w, const int8_t* qa, const float* sa, const int32_t* qsum, int64_t M, float* y,
                     int64_t ldy, int64_t row0, int64_t row1);

}  // namespace mixq::eval::onnx
