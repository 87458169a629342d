// SPDX-License-Identifier: MIT
// Layer image layout and the host-side writer/reader of images (conversion and quantization on the CPU).
#include "gpu/decoder_weights.h"

#include <cstring>

#include "core/common/error.h"
#include "core/engine/linear.h"
#include "core/quant/quantizer.h"

namespace mixq::gpu {

namespace {
constexpr size_t kAlign = 256;
size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

size_t take(size_t& offset, size_t bytes) {
    const size_t at = align_up(offset);
    offset = at + bytes;
    return at;
}

const engine::DenseLinear& dense(const std::shared_ptr<const engine::Linear>& l, const char* what) {
    const auto* d = dynamic_cast<const engine::DenseLinear*>(l.get());
    if (!d) fail("CudaDecoder", std::string(what) + " is not a dense linear");
    return *d;
}
}  // namespace

LinearSlot make_linear_slot(int64_t n, int64_t k, bool has_bias, const std::optional<quant::QuantFormat>& q,
                            io::DType weight_dt, io::DType scale_dt, size_t& offset) {
    LinearSlot s;
    s.n = n;
    s.k = k;
    s.has_bias = has_bias;
    if (q && !q->is_float()) {
        quant::check_quantizable(*q, n, k);
        s.quantized = true;
        s.format = *q;
        s.dtype = scale_dt;
        const int64_t kb = quant::ceil_div(k, q->block_size);
        const int64_t blob = static_cast<int64_t>(q->block_size) * q->bits / 8;
        s.weight_bytes = static_cast<size_t>(n * kb * blob);
        s.scale_bytes = static_cast<size_t>(n * kb) * io::dtype_size(scale_dt);
        s.zp_bytes = q->symmetric ? 0 : static_cast<size_t>(n * quant::ceil_div(kb * q->bits, 8));
        s.weight_off = take(offset, s.weight_bytes);
        s.scale_off = take(offset, s.scale_bytes);
        if (s.zp_bytes) s.zp_off = take(offset, s.zp_bytes);
    } else {
        s.dtype = weight_dt;
        s.weight_bytes = static_cast<size_t>(n * k) * io::dtype_size(weight_dt);
        s.weight_off = take(offset, s.weight_bytes);
    }
    if (has_bias) s.bias_off = take(offset, static_cast<size_t>(n) * 4);
    offset = align_up(offset);
    return s;
}

LayerLayout make_layer_layout(const io::ModelConfig& c, bool qkv_bias, const std::optional<quant::QuantFormat>& q,
                              io::DType weight_dt, io::DType scale_dt) {
    return make_layer_layout(c, qkv_bias, LayerFormats{q, q, q, q}, weight_dt, scale_dt);
}

LayerLayout make_layer_layout(const io::ModelConfig& c, bool qkv_bias, const LayerFormats& f, io::DType weight_dt,
                              io::DType scale_dt) {
    LayerLayout L;
    size_t off = 0;
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    auto quantized = [](const std::optional<quant::QuantFormat>& x) {
        return x && !x->is_float() ? x : std::optional<quant::QuantFormat>();
    };
    L.qkv = make_linear_slot(Q + 2 * KV, H, qkv_bias, quantized(f.qkv), weight_dt, scale_dt, off);
    L.o = make_linear_slot(H, Q, false, quantized(f.o), weight_dt, scale_dt, off);
    L.gate_up = make_linear_slot(2 * I, H, false, quantized(f.gate_up), weight_dt, scale_dt, off);
    L.down = make_linear_slot(H, I, false, quantized(f.down), weight_dt, scale_dt, off);
    L.bytes = off;
    return L;
}

void write_linear(const float* w, const float* bias, const LinearSlot& s, uint8_t* base) {
    if (s.quantized) {
        const quant::QuantizedMatrix qm = quant::quantize(w, s.n, s.k, s.format, s.dtype);
        if (qm.packed.size() != s.weight_bytes || qm.zero_points.size() != s.zp_bytes)
            fail("CudaDecoder", "quantized layout does not match the image slot");
        std::memcpy(base + s.weight_off, qm.packed.data(), s.weight_bytes);
        const auto sb = qm.scale_bytes();
        std::memcpy(base + s.scale_off, sb.data(), s.scale_bytes);
        if (s.zp_bytes) std::memcpy(base + s.zp_off, qm.zero_points.data(), s.zp_bytes);
    } else {
        io::convert_from_f32(s.dtype, w, base + s.weight_off, static_cast<size_t>(s.n * s.k));
    }
    if (s.has_bias) {
        if (bias) std::memcpy(base + s.bias_off, bias, static_cast<size_t>(s.n) * 4);
        else std::memset(base + s.bias_off, 0, static_cast<size_t>(s.n) * 4);
    }
}

void write_layer_image(const engine::LayerWeights& w, const LayerLayout& L, uint8_t* dst) {
    const auto& q = dense(w.q, "q_proj");
    const auto& k = dense(w.k, "k_proj");
    const auto& v = dense(w.v, "v_proj");
    const int64_t Q = q.out_features(), KV = k.out_features(), H = q.in_features();
    if (Q + 2 * KV != L.qkv.n || H != L.qkv.k || v.out_features() != KV)
        fail("CudaDecoder", "q/k/v shapes do not match the model config");
    std::memset(dst, 0, L.bytes);
    {
        engine::RowMatrix qkv(L.qkv.n, H);
        qkv.topRows(Q) = q.weight();
        qkv.middleRows(Q, KV) = k.weight();
        qkv.bottomRows(KV) = v.weight();
        engine::Vector b = engine::Vector::Zero(L.qkv.n);
        if (q.bias()) b.segment(0, Q) = *q.bias();
        if (k.bias()) b.segment(Q, KV) = *k.bias();
        if (v.bias()) b.segment(Q + KV, KV) = *v.bias();
        write_linear(qkv.data(), b.data(), L.qkv, dst);
    }
    write_linear(dense(w.o, "o_proj").weight().data(), nullptr, L.o, dst);
    {
        const auto& g = dense(w.gate, "gate_proj");
        const auto& u = dense(w.up, "up_proj");
        const int64_t I = g.out_features();
        if (2 * I != L.gate_up.n || u.out_features() != I) fail("CudaDecoder", "gate/up shapes do not match the model config");
        engine::RowMatrix gu(2 * I, g.in_features());
        gu.topRows(I) = g.weight();
        gu.bottomRows(I) = u.weight();
        write_linear(gu.data(), nullptr, L.gate_up, dst);
    }
    write_linear(dense(w.down, "down_proj").weight().data(), nullptr, L.down, dst);
}

engine::RowMatrix read_linear(const LinearSlot& s, const uint8_t* base, engine::Vector* bias) {
    engine::RowMatrix out(s.n, s.k);
    if (s.quantized) {
        quant::QuantizedMatrix qm = quant::make_quantized_matrix(s.n, s.k, s.format, s.dtype);
        std::memcpy(qm.packed.data(), base + s.weight_off, s.weight_bytes);
        io::convert_to_f32(s.dtype, base + s.scale_off, qm.scales.data(), qm.scales.size());
        if (s.zp_bytes) std::memcpy(qm.zero_points.data(), base + s.zp_off, s.zp_bytes);
        quant::dequantize(qm, out.data());
    } else {
        io::convert_to_f32(s.dtype, base + s.weight_off, out.data(), static_cast<size_t>(s.n * s.k));
    }
    if (bias) {
        if (s.has_bias) *bias = Eigen::Map<const engine::Vector>(reinterpret_cast<const float*>(base + s.bias_off), s.n);
        else bias->resize(0);
    }
    return out;
}

}  // namespace mixq::gpu
