// SPDX-License-Identifier: MIT
// Block-wise weight-only quantization of a row-major weight W [N, K] (PyTorch Linear layout, blocks along K) into
// the ORT MatMulNBits layout: packed codes, scales in the model dtype and packed zero points; dequantization,
// fake quantization, and a row-chunked API for matrices too large to hold twice (vocab-sized lm_head/embedding).
#pragma once
#include <cstdint>
#include <vector>

#include "core/common/job.h"
#include "core/engine/tensor.h"
#include "core/io/dtype.h"
#include "core/quant/block_quant.h"
#include "core/quant/quant_format.h"

namespace mixq::quant {

/// A quantized [N, K] matrix in MatMulNBits form.
///  - packed: [N, k_blocks, blob_size] bytes, blob_size = block_size·bits/8; element k of a row lies in byte
///    ⌊k·bits/8⌋ of the row, low nibble first for 4 bits. Padding codes past K in the last block are 0 (as the ORT
///    quantizer leaves them; kernels never read them).
///  - scales: [N, k_blocks] fp32 values that are exactly representable in scale_dtype (write them with
///    scale_bytes()). Symmetric scales are signed (MLAS convention: the larger-|·| extreme maps to code 0).
///  - zero_points: asymmetric only, [N, zp_row_bytes] with zp_row_bytes = ceil(k_blocks·bits/8), each row packed
///    separately, low nibble first; the unused pad nibble of an odd k_blocks row is 8 (as MLAS writes it).
///    Empty when symmetric: the MatMulNBits default 2^(bits−1) applies.
/// Dequantized element: float(q − zp) · scale (exact in fp32 for 16-bit scale dtypes).
struct QuantizedMatrix {
    QuantFormat format;
    io::DType scale_dtype = io::DType::F16;
    int64_t n = 0, k = 0, k_blocks = 0, blob_size = 0, zp_row_bytes = 0;
    std::vector<uint8_t> packed;
    std::vector<float> scales;
    std::vector<uint8_t> zero_points;

    /// Bytes as stored: packed + scales at the scale dtype width + zero points. Equals
    /// format.storage_bits(n, k, 8·dtype_size(scale_dtype)) / 8.
    uint64_t storage_bytes() const;
    /// The scales as raw little-endian bytes of scale_dtype ([N, k_blocks]), ready for an ONNX initializer.
    std::vector<uint8_t> scale_bytes() const;
    /// Zero point of block b of row r (2^(bits−1) when symmetric).
    int zero_point(int64_t r, int64_t b) const;
    /// Code of element (r, c).
    int code(int64_t r, int64_t c) const;
};

/// Checks the format (bits 4 or 8, block size 16..256 power of two) and the shape; throws mixq::Error.
void check_quantizable(const QuantFormat& f, int64_t n, int64_t k);

/// An [n, k] matrix with all buffers allocated (codes 0, scales 0, zero points 0x88 for 4 bits / 128 for 8 bits),
/// to be filled by quantize_rows.
QuantizedMatrix make_quantized_matrix(int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype);

/// Quantizes rows [row0, row0 + nrows) of q from `w_rows` ([nrows, q.k] row-major). Rows are independent, so
/// quantizing a matrix chunk by chunk gives bitwise the same result as quantize(). `importance` (length q.k,
/// values ≥ 0, optional) weights the k-quant error per input channel; RTN ignores it. Runs OpenMP over rows.
void quantize_rows(const float* w_rows, int64_t row0, int64_t nrows, QuantizedMatrix& q,
                   const float* importance = nullptr);

/// Quantizes the whole [n, k] matrix.
QuantizedMatrix quantize(const float* w, int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype,
                         const float* importance = nullptr);
QuantizedMatrix quantize(const engine::RowMatrix& w, const QuantFormat& f, io::DType scale_dtype,
                         const float* importance = nullptr);

/// Dequantizes rows [row0, row0 + nrows) from the packed layout into out ([nrows, q.k] row-major).
void dequantize_rows(const QuantizedMatrix& q, int64_t row0, int64_t nrows, float* out);
/// Dequantizes the whole matrix into out ([q.n, q.k]).
void dequantize(const QuantizedMatrix& q, float* out);
engine::RowMatrix dequantize(const QuantizedMatrix& q);

/// The dequantized weights, computed directly from the codes without packing (bitwise equal to
/// dequantize(quantize(...))). Float formats (bits 16) return w rounded to scale_dtype. With `cancel`, the rows are
/// processed in chunks of about 2^20 weights and the token is checked before each (mixq::Cancelled): a k-quant
/// search over a 150k-row lm_head takes seconds.
void fake_quantize(const float* w, int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype, float* out,
                   const float* importance = nullptr, const CancelToken* cancel = nullptr);
engine::RowMatrix fake_quantize(const engine::RowMatrix& w, const QuantFormat& f, io::DType scale_dtype,
                                const float* importance = nullptr, const CancelToken* cancel = nullptr);

}  // namespace mixq::quant
