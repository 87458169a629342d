// SPDX-License-Identifier: MIT
// Matrix-level quantization into the MatMulNBits layout (packing of codes and zero points), dequantization and
// fake quantization, row by row with OpenMP.
#include "core/quant/quantizer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/common/error.h"
#include "core/quant/quant_kernels.h"

#if defined(_OPENMP)
#define MIXQ_OMP_FOR _Pragma("omp parallel for schedule(dynamic, 4)")
#else
#define MIXQ_OMP_FOR
#endif

namespace mixq::quant {

namespace {

constexpr const char* kWhere = "quantizer";

/// First failure seen by a parallel loop (OpenMP regions must not throw): row and kind.
struct RowFailure {
    std::atomic<int64_t> row{-1};
    std::atomic<int> kind{0};  // 1 = non-finite weight, 2 = non-finite scale
    void set(int64_t r, int k) {
        int64_t expected = -1;
        if (row.compare_exchange_strong(expected, r)) kind = k;
    }
    void rethrow(const QuantFormat& f, io::DType dt) const {
        const int64_t r = row.load();
        if (r < 0) return;
        if (kind.load() == 1) fail(kWhere, "non-finite weight in row " + std::to_string(r));
        fail(kWhere, "row " + std::to_string(r) + ": " + f.name() + " scale is not finite in " +
                         io::dtype_name(dt) + " (weights too large for the scale dtype)");
    }
};

/// Quantizes one row; for each block calls sink(block, params, codes, len). Returns 0 or a RowFailure kind.
template <class Sink>
int quantize_row(const float* x, int64_t k, const QuantFormat& f, io::DType dt, const float* importance, Sink&& sink) {
    if (!kernels::all_finite(x, k)) return 1;
    uint8_t codes[256];
    const int64_t kb = ceil_div(k, f.block_size);
    for (int64_t b = 0; b < kb; ++b) {
        const int64_t c0 = b * f.block_size;
        const int len = static_cast<int>(std::min<int64_t>(f.block_size, k - c0));
        BlockInput in{x + c0, len, importance ? importance + c0 : nullptr};
        const BlockParams p = block_params(in, f, dt);
        if (!std::isfinite(p.scale)) return 2;
        encode_block(x + c0, len, p, f.bits, codes);
        sink(b, p, codes, len);
    }
    return 0;
}

void check_importance(const float* importance, int64_t k) {
    if (!importance) return;
    for (int64_t c = 0; c < k; ++c)
        if (!std::isfinite(importance[c]) || importance[c] < 0.0f)
            fail(kWhere, "importance[" + std::to_string(c) + "] must be finite and >= 0");
}

}  // namespace

void check_quantizable(const QuantFormat& f, int64_t n, int64_t k) {
    if (f.bits != 4 && f.bits != 8)
        fail(kWhere, "format " + f.name() + ": only 4 and 8 bits can be quantized");
    if (f.block_size < 16 || f.block_size > 256 || (f.block_size & (f.block_size - 1)) != 0)
        fail(kWhere, "format " + f.name() + ": block size must be 16, 32, 64, 128 or 256");
    if (n < 0 || k <= 0)
        fail(kWhere, "bad matrix shape [" + std::to_string(n) + ", " + std::to_string(k) + "]");
}

uint64_t QuantizedMatrix::storage_bytes() const {
    return packed.size() + scales.size() * io::dtype_size(scale_dtype) + zero_points.size();
}

std::vector<uint8_t> QuantizedMatrix::scale_bytes() const {
    std::vector<uint8_t> out(scales.size() * io::dtype_size(scale_dtype));
    io::convert_from_f32(scale_dtype, scales.data(), out.data(), scales.size());
    return out;
}

int QuantizedMatrix::zero_point(int64_t r, int64_t b) const {
    if (format.symmetric) return 1 << (format.bits - 1);
    if (format.bits == 8) return zero_points[r * zp_row_bytes + b];
    const uint8_t byte = zero_points[r * zp_row_bytes + b / 2];
    return (b & 1) ? (byte >> 4) : (byte & 0x0f);
}

int QuantizedMatrix::code(int64_t r, int64_t c) const {
    const uint8_t* row = packed.data() + r * k_blocks * blob_size;
    if (format.bits == 8) return row[c];
    const uint8_t byte = row[c / 2];
    return (c & 1) ? (byte >> 4) : (byte & 0x0f);
}

QuantizedMatrix make_quantized_matrix(int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype) {
    check_quantizable(f, n, k);
    QuantizedMatrix q;
    q.format = f;
    q.scale_dtype = scale_dtype;
    q.n = n;
    q.k = k;
    q.k_blocks = ceil_div(k, f.block_size);
    q.blob_size = f.block_size * f.bits / 8;
    q.zp_row_bytes = f.symmetric ? 0 : ceil_div(q.k_blocks * f.bits, 8);
    q.packed.assign(static_cast<size_t>(n * q.k_blocks * q.blob_size), 0);
    q.scales.assign(static_cast<size_t>(n * q.k_blocks), 0.0f);
    q.zero_points.assign(static_cast<size_t>(n * q.zp_row_bytes), f.bits == 4 ? 0x88 : 0x80);
    return q;
}

void quantize_rows(const float* w_rows, int64_t row0, int64_t nrows, QuantizedMatrix& q, const float* importance) {
    check_quantizable(q.format, q.n, q.k);
    if (row0 < 0 || nrows < 0 || row0 + nrows > q.n)
        fail(kWhere, "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) +
                         ") outside a matrix of " + std::to_string(q.n) + " rows");
    if (q.packed.size() != static_cast<size_t>(q.n * q.k_blocks * q.blob_size) ||
        q.scales.size() != static_cast<size_t>(q.n * q.k_blocks) ||
        q.zero_points.size() != static_cast<size_t>(q.n * q.zp_row_bytes))
        fail(kWhere, "QuantizedMatrix buffers are not allocated (use make_quantized_matrix)");
    check_importance(importance, q.k);
    const QuantFormat f = q.format;
    const int64_t k = q.k, kb = q.k_blocks, blob = q.blob_size, zrb = q.zp_row_bytes;
    RowFailure failure;
    MIXQ_OMP_FOR
    for (int64_t i = 0; i < nrows; ++i) {
        const int64_t r = row0 + i;
        uint8_t* prow = q.packed.data() + r * kb * blob;
        float* srow = q.scales.data() + r * kb;
        uint8_t* zrow = q.zero_points.data() + r * zrb;
        if (!f.symmetric && f.bits == 4) std::memset(zrow, 0x88, static_cast<size_t>(zrb));
        const int bad = quantize_row(
            w_rows + i * k, k, f, q.scale_dtype, importance,
            [&](int64_t b, const BlockParams& p, const uint8_t* codes, int len) {
                uint8_t* dst = prow + b * blob;
                if (f.bits == 8) {
                    std::memcpy(dst, codes, static_cast<size_t>(len));
                    std::memset(dst + len, 0, static_cast<size_t>(blob - len));
                } else {
                    const int full = len / 2;
                    for (int j = 0; j < full; ++j)
                        dst[j] = static_cast<uint8_t>(codes[2 * j] | (codes[2 * j + 1] << 4));
                    int used = full;
                    if (len & 1) dst[used++] = codes[len - 1];
                    std::memset(dst + used, 0, static_cast<size_t>(blob - used));
                }
                srow[b] = p.scale;
                if (!f.symmetric) {
                    if (f.bits == 8) {
                        zrow[b] = static_cast<uint8_t>(p.zp);
                    } else {
                        uint8_t& byte = zrow[b / 2];
                        byte = (b & 1) ? static_cast<uint8_t>((byte & 0x0f) | (p.zp << 4))
                                       : static_cast<uint8_t>((byte & 0xf0) | p.zp);
                    }
                }
            });
        if (bad) failure.set(r, bad);
    }
    failure.rethrow(f, q.scale_dtype);
}

QuantizedMatrix quantize(const float* w, int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype,
                         const float* importance) {
    QuantizedMatrix q = make_quantized_matrix(n, k, f, scale_dtype);
    quantize_rows(w, 0, n, q, importance);
    return q;
}

QuantizedMatrix quantize(const engine::RowMatrix& w, const QuantFormat& f, io::DType scale_dtype,
                         const float* importance) {
    return quantize(w.data(), w.rows(), w.cols(), f, scale_dtype, importance);
}

void dequantize_rows(const QuantizedMatrix& q, int64_t row0, int64_t nrows, float* out) {
    if (row0 < 0 || nrows < 0 || row0 + nrows > q.n)
        fail(kWhere, "dequantize: rows outside a matrix of " + std::to_string(q.n) + " rows");
    const int bits = q.format.bits;
    const int bs = q.format.block_size;
    MIXQ_OMP_FOR
    for (int64_t i = 0; i < nrows; ++i) {
        const int64_t r = row0 + i;
        const uint8_t* prow = q.packed.data() + r * q.k_blocks * q.blob_size;
        float* orow = out + i * q.k;
        for (int64_t b = 0; b < q.k_blocks; ++b) {
            const float s = q.scales[r * q.k_blocks + b];
            const int zp = q.zero_point(r, b);
            const uint8_t* blob = prow + b * q.blob_size;
            float* o = orow + b * bs;
            const int len = static_cast<int>(std::min<int64_t>(bs, q.k - b * bs));
            if (bits == 8) {
                for (int j = 0; j < len; ++j) o[j] = static_cast<float>(static_cast<int>(blob[j]) - zp) * s;
            } else {
                const int pairs = len / 2;
                for (int j = 0; j < pairs; ++j) {
                    o[2 * j] = static_cast<float>(static_cast<int>(blob[j] & 0x0f) - zp) * s;
                    o[2 * j + 1] = static_cast<float>(static_cast<int>(blob[j] >> 4) - zp) * s;
                }
                if (len & 1) o[len - 1] = static_cast<float>(static_cast<int>(blob[pairs] & 0x0f) - zp) * s;
            }
        }
    }
}

void dequantize(const QuantizedMatrix& q, float* out) { dequantize_rows(q, 0, q.n, out); }

engine::RowMatrix dequantize(const QuantizedMatrix& q) {
    engine::RowMatrix out(q.n, q.k);
    dequantize(q, out.data());
    return out;
}

void fake_quantize(const float* w, int64_t n, int64_t k, const QuantFormat& f, io::DType scale_dtype, float* out,
                   const float* importance, const CancelToken* cancel) {
    if (f.is_float()) {
        for (int64_t i = 0; i < n * k; ++i) out[i] = round_to_dtype(w[i], scale_dtype);
        return;
    }
    check_quantizable(f, n, k);
    check_importance(importance, k);
    RowFailure failure;
    const int64_t chunk = cancel ? std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(k, 1)) : n;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        if (cancel) cancel->check();
        const int64_t r1 = std::min(n, r0 + chunk);
        MIXQ_OMP_FOR
        for (int64_t r = r0; r < r1; ++r) {
            float* orow = out + r * k;
            const int bad = quantize_row(w + r * k, k, f, scale_dtype, importance,
                                         [&](int64_t b, const BlockParams& p, const uint8_t* codes, int len) {
                                             float* o = orow + b * f.block_size;
                                             for (int j = 0; j < len; ++j)
                                                 o[j] = static_cast<float>(static_cast<int>(codes[j]) - p.zp) * p.scale;
                                         });
            if (bad) failure.set(r, bad);
        }
        if (failure.row.load() >= 0) break;  // the error is known: the rest of the rows would be wasted work
    }
    failure.rethrow(f, scale_dtype);
}

engine::RowMatrix fake_quantize(const engine::RowMatrix& w, const QuantFormat& f, io::DType scale_dtype,
                                const float* importance, const CancelToken* cancel) {
    engine::RowMatrix out(w.rows(), w.cols());
    fake_quantize(w.data(), w.rows(), w.cols(), f, scale_dtype, out.data(), importance, cancel);
    return out;
}

}  // namespace mixq::quant
