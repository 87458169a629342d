// SPDX-License-Identifier: MIT
// Launcher of block fake quantization (round to nearest, asymmetric or symmetric, 4 or 8 bits) that reproduces
// core/quant/block_quant.h exactly: rtn_params (MLAS rule, scale rounded to the scale dtype) + encode_block
// (q = clamp(roundf(x·(1/s) + zp)), product and sum rounded separately) + dequantization float(q − zp)·s.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// out = dequantize(quantize(w)) of the row-major [n, k] fp32 matrix w (blocks of block_size along k, the last one
/// shorter when k is not a multiple), bitwise equal to quant::fake_quantize with an RTN format, except that a zero
/// result may differ in sign (all-zero blocks). bits 4 or 8; block_size 16..256, a power of two; scale_dt is the
/// dtype scales are stored in (F16, BF16 or F32). out may alias w. Non-finite weights give unspecified values.
cudaError_t fake_quantize_rtn(const float* w, float* out, int64_t n, int64_t k, int bits, int block_size, bool symmetric,
                              io::DType scale_dt, cudaStream_t stream);

}  // namespace mixq::gpu
