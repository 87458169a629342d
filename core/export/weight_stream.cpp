// SPDX-License-Identifier: MIT
// Chunked reading of weight rows and the three weight writers of the exporter.
#include "core/export/weight_stream.h"

#include <algorithm>
#include <cstring>

#include "core/common/error.h"
#include "core/quant/quantizer.h"

namespace mixq::exporter {

RowSource::RowSource(const io::TensorStore& store, std::vector<RowSegment> segments)
    : m_store(store), m_segments(std::move(segments)) {
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
        if (lo < hi) {
            m_store.read_rows_f32(s.tensor, s.row0 + (lo - base), hi - lo, out + (lo - r0) * m_cols);
            m_store.release(s.tensor);
        }
        base += s.rows;
    }
}

int64_t chunk_rows(int64_t cols) {
    return std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / (4 * static_cast<uint64_t>(std::max<int64_t>(cols, 1)))));
}

QuantizedRegions write_quantized(ExternalDataWriter& out, const RowSource& src, const quant::QuantFormat& f,
                                 io::DType scale_dtype, const std::string& name, const ChunkFn& tick) {
    const int64_t n = src.rows(), k = src.cols();
    quant::check_quantizable(f, n, k);
    QuantizedRegions r;
    r.n = n;
    r.k = k;
    r.k_blocks = quant::ceil_div(k, f.block_size);
    r.blob_size = f.block_size * f.bits / 8;
    r.zp_row_bytes = f.symmetric ? 0 : quant::ceil_div(r.k_blocks * f.bits, 8);
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
    r.scales = out.put(name + " scales", scales.data(), scales.size() * sizeof(float));
    if (!zps.empty()) r.zero_points = out.put(name + " zero points", zps.data(), zps.size());
    return r;
}

DataRegion write_float_rows(ExternalDataWriter& out, const RowSource& src, const std::string& name, const ChunkFn& tick) {
    const int64_t n = src.rows(), k = src.cols();
    const int64_t step = chunk_rows(k);
    std::vector<float> buf(static_cast<size_t>(std::min(step, n) * k));
    out.begin(static_cast<uint64_t>(n * k) * sizeof(float));
    for (int64_t r0 = 0; r0 < n; r0 += step) {
        const int64_t rows = std::min(step, n - r0);
        src.read(r0, rows, buf.data());
        out.write(buf.data(), static_cast<size_t>(rows * k) * sizeof(float));
        if (tick) tick(rows * k);
    }
    return out.end(name);
}

DataRegion write_float_transposed(ExternalDataWriter& out, const RowSource& src, const std::string& name,
                                  const ChunkFn& tick) {
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
    out.begin(static_cast<uint64_t>(n * k) * sizeof(float));
    for (int64_t c0 = 0; c0 < k; c0 += out_rows) {
        const int64_t cs = std::min(out_rows, k - c0);
        for (int64_t t0 = 0; t0 < n; t0 += 64) {
            const int64_t te = std::min(n, t0 + 64);
            for (int64_t c = 0; c < cs; ++c)
                for (int64_t r = t0; r < te; ++r) buf[static_cast<size_t>(c * n + r)] = w[static_cast<size_t>(r * k + c0 + c)];
        }
        out.write(buf.data(), static_cast<size_t>(cs * n) * sizeof(float));
    }
    return out.end(name);
}

}  // namespace mixq::exporter
