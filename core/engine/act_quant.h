// SPDX-License-Identifier: MIT
// Activation quantization of ONNX Runtime's MatMulNBits accuracy_level 4 (MLAS "CompInt8"): each row of A is cut
// into blocks of the weight's block_size along K; a block's scale is max|a| / 127 and its codes are
// round-half-even(a · (127 / max|a|)) in int8 (0 when the block is all zero; a partial last block is zero-padded).
// MLAS then takes int8·int8 dot products per block and scales them by scale_a · scale_w, which equals the fp32
// product of the dequantized activations (code · scale) with the dequantized weights up to float summation order,
// so the engine emulates the file by fake-quantizing A here and multiplying in fp32; the built-in ONNX runner does
// that for many rows and takes MLAS's int8 dots on these codes (quantize_activation_row) for few.
#pragma once
#include <cstdint>

namespace mixq::engine {

/// The accuracy_level at which MatMulNBits quantizes its activations to int8 (ORT's SQNBIT_CompInt8).
constexpr int kInt8ActivationAccuracyLevel = 4;

/// out[k] = code(x[k]) · scale of its block, for one row of `k` values and blocks of `block` (in place allowed).
void fake_quantize_activation_row(const float* x, int64_t k, int64_t block, float* out);

/// One row as int8 codes (k_blocks·block values, a partial last block zero-padded), the block scales (k_blocks)
/// and the blocks' code sums (k_blocks): the operands of MLAS's int8 dot products. code · scale is exactly
/// fake_quantize_activation_row's value.
void quantize_activation_row(const float* x, int64_t k, int64_t block, int8_t* codes, float* scales, int32_t* sums);

/// Every row of a row-major [rows, k] matrix, in place.
void fake_quantize_activation_rows(float* x, int64_t rows, int64_t k, int64_t block);

}  // namespace mixq::engine
