// SPDX-License-Identifier: MIT
// MatMulNBits at accuracy_level 4 (ONNX Runtime's CompInt8) for any number of activation rows, the way MLAS does
// it: activations quantized once per call to int8 blocks, 4- or 8-bit weight codes (prepacked, nbits_prepack.h)
// multiplied as unsigned bytes against them with VNNI dot products (AVX512-VNNI on 512-bit vectors or AVX-VNNI on
// 256-bit ones, chosen at run time; AVX2 maddubs for 4-bit codes where neither exists). Register tiles of MR
// activation rows × NR vectors of 16 (8) output columns: four activation bytes broadcast against a vector of
// packed columns, int32 sums per quant block, scaled into float accumulators per block; zero points through the
// blocks' activation code sums. Block dots are exact integers; only the float accumulation order differs from
// the reference.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/onnx/nbits_kernel.h"
#include "core/eval/onnx/nbits_prepack.h"

namespace mixq::eval::onnx {

/// Activations of one call, quantized once: int8 codes [M, kpad] in K order (kpad = k_blocks · block_size, a
/// partial last block zero-padded, plus 64 bytes of slack), block scales sa [M, k_blocks] and zsum [M, k_blocks]
/// = sa · Σ codes · (the default zero point when the weight has no zero-point input, else 1).
struct Int8Activations {
    int64_t M = 0, k_blocks = 0, kpad = 0, block_size = 0;
    std::vector<int8_t> codes;
    std::vector<float> scales;
    std::vector<float> zsums;
};

/// The kernel in use: the best this CPU runs ("avx512vnni", "avxvnni", "avx2", or "none": the older few-rows
/// kernel), or MIXQ_NBITS_KERNEL's choice when the CPU runs it.
std::string nbits_int8_kernel_name();

/// Switches to the named kernel for the whole process (tests, benchmarks); false, and no change, when this CPU
/// cannot run it or the name is unknown.
bool nbits_int8_use_kernel(const std::string& name);

/// True when nbits_int8_gemm handles `w`: 4- or 8-bit codes, integer zero points, block_size a multiple of 16, and
/// a kernel for this CPU (8-bit codes need VNNI).
bool nbits_int8_gemm_supports(const NBitsMatrix& w);

/// Quantizes a [M, K] fp32 activation matrix for `w` (ONNX Runtime's blocks of block_size along K); the same codes
/// and scales as engine::quantize_activation_row, vectorized.
Int8Activations nbits_int8_prepare(const NBitsMatrix& w, const float* a, int64_t M);

/// Panels (16 output columns each) per task of nbits_int8_gemm for M activation rows: the kernel's column tile.
int64_t nbits_int8_panels_per_task(int64_t M);

/// y[m·ldy + n] for the columns of panels [panel0, panel1) below N, every m < a.M. Single-threaded; callers split
/// the panels (in multiples of nbits_int8_panels_per_task).
void nbits_int8_gemm(const NBitsPacked& w, const Int8Activations& a, float* y, int64_t ldy, int64_t panel0,
                     int64_t panel1);

}  // namespace mixq::eval::onnx
