// SPDX-License-Identifier: MIT
// Chunked reading of weight rows and the three weight writers of the exporter.
#include "core/export/weight_stream.h"

#include "core/common/half.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/common/error.h"
#include "core/quant/quantizer.h"

namespace mixq::exporter {

RowSource::RowSource(const io::TensorStore& store, std::vector<RowSegment> segments, const engine::Rotation* rotation)
    : m_store(store), m_segments(std::move(segments)), m_rotation(rotation) {
    if (m_segments.empty()) fail("export", "internal error: empty row source");
    for (auto& s : m_segments) {
        const io::TensorInfo& t = m_store.info(s.tensor);
        if (t.shape.size() != 2) fail(s.tensor, "expected a matrix");
        if (s.rows == 0 && s.row0 == 0) s.rows = t.shape[0];
        if (s.row0 < 0 || s.rows <= 0 || s.row0 + s.rows > t.shape[0])
            fail(s.tensor, "internal error: row range outside the tensor");
        if (m_cols == 0) m_cols = t.shape[1];
        if (t.shape[1] != m_cols) fail(s.tensor, "has " + std::to_string(t.shape[1]) + " columns, expected " +
                                                     std::to_string(m_cols));
        m_rows += s.rows;
    }
}

void RowSource::read(int64_t r0, int64_t n, float* out) const {
    int64_t base = 0;
    for (const auto& s : m_segments) {
        const int64_t lo = std::max(r0, base), hi = std::min(r0 + n, base + s.rows);
        if (lo < hi && m_rotation) {
            if (m_cached != s.tensor) {
                const int64_t rows = m_store.info(s.tensor).shape[0];
                engine::RowMatrix w(rows, m_cols);
                m_store.read_rows_f32(s.tensor, 0, rows, w.data());
                m_store.release(s.tensor);
                m_rotated = m_rotation->transform(s.tensor, w);
                m_cached = s.tensor;
            }
            std::memcpy(out + (lo - r0) * m_cols, m_rotated.data() + (s.row0 + lo - base) * m_cols,
                        static_cast<size_t>((hi - lo) * m_cols) * sizeof(float));
        } else if (lo < hi) {
            m_store.read_rows_f32(s.tensor, s.row0 + (lo - base), hi - lo, out + (lo - r0) * m_cols);
            m_store.release(s.tensor);
        }
        base += s.rows;
    }
}

int64_t chunk_rows(int64_t cols) {
    return std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / (4 * static_cast<uint64_t>(std::max<int64_t>(cols, 1)))));
}

void write_as(ExternalDataWriter& out, const float* v, size_t n, io::DType store, const std::string& label) {
    if (store == io::DType::F32) return out.write(v, n * sizeof(float));
    std::vector<uint16_t> h(n);
    const bool bf16 = store == io::DType::BF16;
    for (size_t i = 0; i < n; ++i) h[i] = bf16 ? float_to_bf16(v[i]) : float_to_f16(v[i]);
    // The values are finite (checked when read); one beyond the 16-bit range would be stored as Inf.
    const uint16_t exp_mask = bf16 ? 0x7F80 : 0x7C00;
    uint16_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad |= static_cast<uint16_t>((h[i] & exp_mask) == exp_mask);
    if (bad) {
        size_t i = 0;
        while ((h[i] & exp_mask) != exp_mask) ++i;
        std::ostringstream msg;
        msg << "value " << v[i] << " does not fit in " << (bf16 ? "bfloat16" : "float16") << " (largest "
            << (bf16 ? "3.39e+38" : "65504") << "): the export would hold Inf; export for --target cpu or use another model";
        fail(label, msg.str());
    }
    out.write(h.data(), n * sizeof(uint16_t));
}

std::string RowSource::describe() const {
    std::string names;
    for (const auto& seg : m_segments) names += (names.empty() ? "'" : ", '") + seg.tensor + "'";
    const auto& info = m_store.info(m_segments.front().tensor);
    return m_store.files()[static_cast<size_t>(info.file_index)].string() + ": tensor " + names;
}

/// The shape fields of a quantized [n, k] matrix (regions empty).
QuantizedRegions quantized_layout(int64_t n, int64_t k, const quant::QuantFormat& f) {
    QuantizedRegions r;
    r.n = n;
    r.k = k;
    r.k_blocks = quant::ceil_div(k, f.block_size);
    r.blob_size = f.block_size * f.bits / 8;
    r.zp_row_bytes = f.symmetric ? 0 : quant::ceil_div(r.k_blocks * f.bits, 8);
    return r;
}

QuantizedRegions reserve_quantized(ExternalDataWriter& out, int64_t n, int64_t k, const quant::QuantFormat& f,
                                   io::DType scale_store, const std::string& name) {
    quant::check_quantizable(f, n, k);
    QuantizedRegions r = quantized_layout(n, k, f);
    r.packed = out.reserve(name, static_cast<uint64_t>(n * r.k_blocks * r.blob_size));
    r.scales = out.reserve(name + " scales", static_cast<uint64_t>(n * r.k_blocks) * io::dtype_size(scale_store));
    if (r.zp_row_bytes > 0) r.zero_points = out.reserve(name + " zero points", static_cast<uint64_t>(n * r.zp_row_bytes));
    return r;
}

QuantizedRegions write_quantized(ExternalDataWriter& out, const RowSource& src, const quant::QuantFormat& f,
                                 io::DType scale_dtype, io::DType scale_store, const std::string& name, const ChunkFn& tick) {
    const int64_t n = src.rows(), k = src.cols();
    quant::check_quantizable(f, n, k);
    QuantizedRegions r = quantized_layout(n, k, f);
    std::vector<float> scales;
    std::vector<uint8_t> zps;
    scales.reserve(static_cast<size_t>(n * r.k_blocks));
    zps.reserve(static_cast<size_t>(n * r.zp_row_bytes));

    const int64_t step = chunk_rows(k);
    std::vector<float> buf(static_cast<size_t>(std::min(step, n) * k));
    out.begin(static_cast<uint64_t>(n * r.k_blocks * r.blob_size));
    for (int64_t r0 = 0; r0 < n; r0 += step) {
        const int64_t rows = std::min(step, n - r0);
        src.read(r0, rows, buf.data());
        quant::QuantizedMatrix q = quant::make_quantized_matrix(rows, k, f, scale_dtype);
        try {
            quant::quantize_rows(buf.data(), 0, rows, q);
        } catch (const Error& e) {  // name the source tensor(s): e.g. a NaN weight in the model file
            std::string names;
            for (const auto& seg : src.segments()) names += (names.empty() ? "" : ", ") + seg.tensor;
            fail(names, e.what());
        }
        out.write(q.packed.data(), q.packed.size());
        scales.insert(scales.end(), q.scales.begin(), q.scales.end());
        zps.insert(zps.end(), q.zero_points.begin(), q.zero_points.end());
        if (tick) tick(rows * k);
    }
    r.packed = out.end(name);
    // Scales are rounded to scale_dtype, so storing them in it (or in F32) is exact.
    out.begin(scales.size() * io::dtype_size(scale_store));
    write_as(out, scales.data(), scales.size(), scale_store, src.describe() + " (quantization scales)");
    r.scales = out.end(name + " scales");
    if (!zps.empty()) r.zero_points = out.put(name + " zero points", zps.data(), zps.size());
    return r;
}

DataRegion write_float_rows(ExternalDataWriter& out, const RowSource& src, io::DType store, const std::string& name,
                            const ChunkFn& tick) {
    const int64_t n = src.rows(), k = src.cols();
    const int64_t step = chunk_rows(k);
    std::vector<float> buf(static_cast<size_t>(std::min(step, n) * k));
    out.begin(static_cast<uint64_t>(n * k) * io::dtype_size(store));
    for (int64_t r0 = 0; r0 < n; r0 += step) {
        const int64_t rows = std::min(step, n - r0);
        src.read(r0, rows, buf.data());
        write_as(out, buf.data(), static_cast<size_t>(rows * k), store, src.describe());
        if (tick) tick(rows * k);
    }
    return out.end(name);
}

DataRegion write_float_transposed(ExternalDataWriter& out, const RowSource& src, io::DType store,
                                  const std::string& name, const ChunkFn& tick) {
    const int64_t n = src.rows(), k = src.cols();
    std::vector<float> w(static_cast<size_t>(n * k));
    const int64_t step = chunk_rows(k);
    for (int64_t r0 = 0; r0 < n; r0 += step) {
        const int64_t rows = std::min(step, n - r0);
        src.read(r0, rows, w.data() + r0 * k);
        if (tick) tick(rows * k);
    }
    // Output rows c = 0..k-1 of length n, a few at a time, gathered in 64-row tiles of w for locality.
    const int64_t out_rows = std::max<int64_t>(1, chunk_rows(n) / 4);
    std::vector<float> buf(static_cast<size_t>(std::min(out_rows, k) * n));
    out.begin(static_cast<uint64_t>(n * k) * io::dtype_size(store));
    for (int64_t c0 = 0; c0 < k; c0 += out_rows) {
        const int64_t cs = std::min(out_rows, k - c0);
        for (int64_t t0 = 0; t0 < n; t0 += 64) {
            const int64_t te = std::min(n, t0 + 64);
            for (int64_t c = 0; c < cs; ++c)
                for (int64_t r = t0; r < te; ++r) buf[static_cast<size_t>(c * n + r)] = w[static_cast<size_t>(r * k + c0 + c)];
        }
        write_as(out, buf.data(), static_cast<size_t>(cs * n), store, src.describe());
    }
    return out.end(name);
}

}  // namespace mixq::exporter
