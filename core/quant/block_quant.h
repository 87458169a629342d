// SPDX-License-Identifier: MIT
// One quantization block: scale rounding to the model dtype, the MLAS RTN rule (asymmetric and symmetric), the
// k-quant scale/min search, and the shared code rule q = clamp(roundf(x·(1/s) + zp), 0, 2^bits − 1).
#pragma once
#include <cstdint>

#include "core/io/dtype.h"
#include "core/quant/quant_format.h"

namespace mixq::quant {

/// Rounds v to the nearest value of `t` (round to nearest even) and returns it as fp32. F32 returns v.
float round_to_dtype(float v, io::DType t);

/// Quantization parameters of one block. Dequantized element: float(q − zp) · scale.
struct BlockParams {
    float scale = 0.0f;  ///< stored scale, exactly representable in the scale dtype (negative allowed when symmetric)
    int zp = 0;          ///< zero point in [0, 2^bits − 1]; 2^(bits−1) for symmetric formats (not stored)
};

/// Inputs of one block: `len` real elements (1 ≤ len ≤ block_size; a short last block is simply shorter).
struct BlockInput {
    const float* x = nullptr;           ///< the weights of the block
    int len = 0;
    const float* importance = nullptr;  ///< optional per-element importance (≥ 0), same length; k-quant only
};

/// MLAS RTN parameters (quantization-reference §3.1): asymmetric range forced to include 0, zp from the unrounded
/// scale with roundf; symmetric v* = the larger-|·| extreme (ties pick min), signed scale = v*/−2^(bits−1).
/// The scale is rounded to `dt` as the stored ScaleT(scale_f) is.
BlockParams rtn_params(const BlockInput& in, int bits, bool symmetric, io::DType dt);

/// k-quant parameters: minimizes Σ w_i (x_i − dq_i)² with the per-element weights
/// w_i = (sqrt(mean x²) + |x_i|) · importance_i (importance_i = 1 when absent; the llama.cpp Q4_K weights), where dq
/// are the values the stored parameters actually dequantize to (scale rounded to `dt`, integer zp, MLAS codes).
///  - asymmetric: candidate inverse scales (kmax − 1 + 0.2·i)/range, i = 0..10, each followed by a weighted
///    least-squares fit of (scale, min ≤ 0) to its codes (make_qkx2_quants style), the zp rounded from −min/scale;
///    then alternating refits of (scale, min) and of the scale alone on the best codes;
///  - symmetric: the scale only (zp = 2^(bits−1)), signed: candidates map v* to −(kmid + δ) or +(kmid − 1 + δ),
///    δ ∈ [−1, 1], with a least-squares scale per candidate (make_qx_quants style), then scale refits.
/// Never worse than rtn_params under that error: RTN is the starting point, a candidate replaces it only when
/// strictly better, and the final comparison with RTN is done in double.
BlockParams kquant_params(const BlockInput& in, int bits, bool symmetric, io::DType dt);

/// The k-quant per-element weights w_i described above (out has in.len entries).
void kquant_weights(const BlockInput& in, float* out);

/// Codes of the block: q_i = clamp(roundf(x_i · r + zp), 0, 2^bits − 1) with r = (s ≠ 0) ? 1/s : 0, exactly as
/// MLAS computes them (multiplication by the reciprocal of the stored scale, zp added before rounding).
void encode_block(const float* x, int len, const BlockParams& p, int bits, uint8_t* codes);

/// Σ w_i (x_i − float(q_i − zp)·s)², accumulated in double (w = nullptr: unweighted).
double block_error(const float* x, const float* w, int len, const BlockParams& p, int bits);

/// Parameters of a block by the format's method (RTN or k-quant).
BlockParams block_params(const BlockInput& in, const QuantFormat& f, io::DType dt);

}  // namespace mixq::quant
