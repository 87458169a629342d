// SPDX-License-Identifier: MIT
// Streaming of weight matrices from the memory-mapped safetensors into the external data file: a RowSource
// (rows of one or more tensors concatenated, e.g. q|k|v or gate|up, or a row range of a packed tensor) read in
// bounded fp32 chunks that release their mapped pages, and writers for the MatMulNBits layout (quantized with
// quant::quantize_rows chunk by chunk), fp32 rows and fp32 transposed ([K, N], the ONNX MatMul layout).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/rotation.h"
#include "core/export/external_data.h"
#include "core/io/safetensors.h"
#include "core/quant/quant_format.h"

namespace mixq::exporter {

struct RowSegment {
    std::string tensor;  ///< HF tensor name
    int64_t row0 = 0;    ///< first row taken
    int64_t rows = 0;    ///< rows taken
};

/// Rows [0, rows()) of the concatenation of `segments` (all with `cols` columns), as fp32. With a rotation, each
/// tensor is read whole, rotated and norm-folded (engine::Rotation::transform, the basis a rotated plan was scored
/// in) and kept until another tensor is read.
class RowSource {
public:
    RowSource(const io::TensorStore& store, std::vector<RowSegment> segments, const engine::Rotation* rotation = nullptr);
    int64_t rows() const { return m_rows; }
    int64_t cols() const { return m_cols; }
    /// Rows [r0, r0 + n) into out ([n, cols] row-major); drops the mapped pages of the tensors it touched.
    void read(int64_t r0, int64_t n, float* out) const;
    const std::vector<RowSegment>& segments() const { return m_segments; }
    /// "<shard file>: tensor 'a', 'b'": where its values come from, for errors.
    std::string describe() const;

private:
    const io::TensorStore& m_store;
    std::vector<RowSegment> m_segments;
    int64_t m_rows = 0, m_cols = 0;
    const engine::Rotation* m_rotation = nullptr;
    mutable std::string m_cached;     ///< tensor held rotated in m_rotated
    mutable engine::RowMatrix m_rotated;
};

/// Called after each chunk with the number of weights processed (progress; may throw Cancelled).
using ChunkFn = std::function<void(int64_t weights)>;

/// Rows per chunk for a row length of `cols` fp32 values: a fixed buffer of kChunkBytes, at least one row.
constexpr uint64_t kChunkBytes = uint64_t(16) << 20;
int64_t chunk_rows(int64_t cols);

/// The three initializers of a quantized [N, K] matrix in the data file.
struct QuantizedRegions {
    int64_t n = 0, k = 0, k_blocks = 0, blob_size = 0, zp_row_bytes = 0;
    DataRegion packed;       ///< uint8 [N, k_blocks, blob_size]
    DataRegion scales;       ///< [N, k_blocks] in the scale dtype (fp32, bf16 or fp16)
    DataRegion zero_points;  ///< uint8 [N, zp_row_bytes]; length 0 when symmetric
    bool has_zero_points() const { return zero_points.length > 0; }
};

/// `n` fp32 values written as `store` (F32, or BF16/F16 rounded to nearest even), inside an open tensor of `out`.
/// A value beyond the 16-bit range (it would be stored as Inf) throws mixq::Error "<label>: value V does not fit ...".
void write_as(ExternalDataWriter& out, const float* v, size_t n, io::DType store, const std::string& label);

/// Quantizes `src` with `f` (scales rounded to `scale_dtype`, stored as `scale_store`: the same dtype, or F32; no
/// importance) chunk by chunk and
/// writes packed codes, then scales, then zero points. `name` labels the tensors in errors.
QuantizedRegions write_quantized(ExternalDataWriter& out, const RowSource& src, const quant::QuantFormat& f,
                                 io::DType scale_dtype, io::DType scale_store, const std::string& name, const ChunkFn& tick);
/// The regions write_quantized would write for an [n, k] matrix, reserved on a counting writer (no data read).
QuantizedRegions reserve_quantized(ExternalDataWriter& out, int64_t n, int64_t k, const quant::QuantFormat& f,
                                   io::DType scale_store, const std::string& name);
/// Writes `src` as [N, K] in `store` (F32, or BF16/F16 rounded to nearest even: exact for weights read from a file
/// of that dtype).
DataRegion write_float_rows(ExternalDataWriter& out, const RowSource& src, io::DType store, const std::string& name,
                            const ChunkFn& tick);
/// Writes `src` transposed as [K, N] in `store`. Holds the matrix in fp32 once (the only whole-tensor buffer).
DataRegion write_float_transposed(ExternalDataWriter& out, const RowSource& src, io::DType store,
                                  const std::string& name, const ChunkFn& tick);

}  // namespace mixq::exporter
