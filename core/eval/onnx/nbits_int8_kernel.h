// SPDX-License-Identifier: MIT
// MatMulNBits at accuracy_level 4 (ONNX Runtime's CompInt8) for any number of activation rows, the way MLAS does
// it: activations quantized once per call to int8 blocks, 4- or 8-bit weight codes multiplied as unsigned bytes
// against them with VNNI dot products (AVX512-VNNI or AVX-VNNI, chosen at run time; AVX2 maddubs for 4-bit codes
// where neither exists) in register tiles of activation × weight rows, each block's int32 dot scaled into float
// accumulators, zero points applied through the blocks' activation code sums. Block dots are exact integers; only
// the float accumulation order differs from the reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/onnx/nbits_kernel.h"

namespace mixq::eval::onnx {

/// Activations of one call, quantized once: int8 codes [M, kpad] (for 4-bit weights each 64-code chunk is stored
/// even elements first, then odd, matching the low and high nibble planes of 32 packed bytes; kpad a multiple of
/// 64 then), block scales, code sums and their products [M, kb8] (k_blocks rounded up to 8, zero-padded).
struct Int8Activations {
    int64_t M = 0, k_blocks = 0, kb8 = 0, kpad = 0;
    std::vector<int8_t> codes;
    std::vector<float> scales;
    std::vector<int32_t> sums;
    std::vector<float> scaled_sums;  ///< scale · code sum per block
};

/// The kernel in use: the best this CPU runs ("avx512vnni", "avxvnni", "avx2", or "none": the older few-rows
/// kernel), or MIXQ_NBITS_KERNEL's choice when the CPU runs it.
std::string nbits_int8_kernel_name();

/// Switches to the named kernel for the whole process (tests, benchmarks); false, and no change, when this CPU
/// cannot run it or the name is unknown.
bool nbits_int8_use_kernel(const std::string& name);

/// True when nbits_int8_gemm handles `w`: 4- or 8-bit codes, integer zero points, block_size a multiple of 32, and
/// a kernel for this CPU (8-bit codes need VNNI).
bool nbits_int8_gemm_supports(const NBitsMatrix& w);

/// Quantizes a [M, K] fp32 activation matrix for `w` (ONNX Runtime's blocks of block_size along K).
Int8Activations nbits_int8_prepare(const NBitsMatrix& w, const float* a, int64_t M);

/// y[m·ldy + n] for n in [row0, row1), every m < a.M. Single-threaded; callers split the rows (a few at a time
/// keeps the weight rows in L1 across the activation tiles).
void nbits_int8_gemm(const NBitsMatrix& w, const Int8Activations& a, float* y, int64_t ldy, int64_t row0,
                     int64_t row1);

}  // namespace mixq::eval::onnx
