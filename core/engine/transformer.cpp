// SPDX-License-Identifier: MIT
// The CPU decoder forward pass (see transformer.h for the semantics it reproduces).
#include "core/engine/transformer.h"

#include "core/engine/act_quant.h"
#include "core/engine/finite_check.h"
#include "core/engine/half_linear.h"

#include <cmath>

#include "core/common/error.h"

namespace mixq::engine {
using io::TensorNames;

uint64_t LayerWeights::bytes() const {
    uint64_t b = 0;
    for (const auto* l : {&q, &k, &v, &o, &gate, &up, &down})
        if (*l) b += (*l)->weight_bytes();
    return b;
}

void rms_norm_rows(RowMatrix& x, const Vector& weight, float eps) {
    for (int64_t t = 0; t < x.rows(); ++t) {
        auto row = x.row(t);
        const float var = row.squaredNorm() / static_cast<float>(row.size());
        const float inv = 1.0f / std::sqrt(var + eps);
        row = (row.array() * inv * weight.transpose().array()).matrix();
    }
}

RowMatrix log_softmax_rows(const RowMatrix& logits) {
    RowMatrix out(logits.rows(), logits.cols());
    for (int64_t t = 0; t < logits.rows(); ++t) {
        const float mx = logits.row(t).maxCoeff();
        double sum = 0.0;
        for (int64_t j = 0; j < logits.cols(); ++j) sum += std::exp(static_cast<double>(logits(t, j) - mx));
        const float lse = mx + static_cast<float>(std::log(sum));
        out.row(t) = logits.row(t).array() - lse;
    }
    return out;
}

Transformer::Transformer(std::shared_ptr<const io::Model> model, EngineOptions opt)
    : m_model(std::move(model)), m_opt(opt), m_rope(m_model->config()) {
    m_layers.resize(m_model->config().num_layers);
    const auto v = m_model->weights().read_f32(TensorNames::final_norm());
    m_final_norm = Eigen::Map<const Vector>(v.data(), static_cast<int64_t>(v.size()));
    if (m_opt.rotation) m_final_norm.setOnes();  // folded into the lm_head
}

KVCache Transformer::make_cache(int capacity) const {
    return KVCache(config().num_layers, capacity, config().kv_dim());
}

RowMatrix Transformer::load_matrix(const std::string& tensor) const {
    const auto& w = m_model->weights();
    const auto& info = w.info(tensor);
    if (info.shape.size() != 2) fail(m_model->dir().string(), "tensor '" + tensor + "' is not a matrix");
    RowMatrix m(info.shape[0], info.shape[1]);
    w.read_rows_f32(tensor, 0, info.shape[0], m.data());
    if (!m_opt.resident) w.release(tensor);
    return m;
}

RowMatrix Transformer::load_effective(const std::string& tensor) const {
    if (!m_opt.rotation) return load_matrix(tensor);
    return m_opt.rotation->transform(tensor, load_matrix(tensor));
}

std::shared_ptr<const RowMatrix> Transformer::weight(const std::string& name) {
    auto it = m_overrides.find(name);
    if (it != m_overrides.end()) return it->second;
    return std::make_shared<const RowMatrix>(load_effective(name));
}

std::shared_ptr<const RowMatrix> Transformer::current_matrix(const std::string& tensor) {
    if (tensor == TensorNames::embed()) {
        embed_table();
        return m_embed;
    }
    if (tensor == TensorNames::lm_head()) {
        lm_head_matrix();
        return m_lm_head;
    }
    return weight(tensor);
}

void Transformer::invalidate(const std::string& tensor) {
    if (tensor == TensorNames::embed()) {
        m_embed.reset();
        if (m_model->layout().tied_embeddings) m_lm_head.reset();
        return;
    }
    if (tensor == TensorNames::lm_head()) {
        m_lm_head.reset();
        return;
    }
    // "model.layers.N.xxx"
    const std::string prefix = "model.layers.";
    if (tensor.rfind(prefix, 0) == 0) {
        const int layer = std::atoi(tensor.c_str() + prefix.size());
        if (layer >= 0 && layer < static_cast<int>(m_layers.size())) m_layers[layer].reset();
    }
}

void Transformer::set_override(const std::string& tensor, std::shared_ptr<const RowMatrix> w) {
    const auto& info = m_model->weights().info(tensor);
    if (info.shape.size() != 2 || info.shape[0] != w->rows() || info.shape[1] != w->cols())
        fail(tensor, "override shape does not match the model's tensor");
    m_overrides[tensor] = std::move(w);
    invalidate(tensor);
}

void Transformer::clear_override(const std::string& tensor) {
    if (m_overrides.erase(tensor)) invalidate(tensor);
}

void Transformer::set_activation_block(const std::string& tensor, int64_t block) {
    if (block > 0)
        m_act_blocks[tensor] = block;
    else if (!m_act_blocks.erase(tensor))
        return;
    invalidate(tensor);
}

int64_t Transformer::act_block(const std::string& tensor) const {
    auto it = m_act_blocks.find(tensor);
    return it == m_act_blocks.end() ? 0 : it->second;
}

void Transformer::clear_overrides() {
    auto names = m_overrides;
    m_overrides.clear();
    for (const auto& [n, w] : names) invalidate(n);
}

namespace {
Vector read_vector(const io::TensorStore& w, const std::string& name) {
    const auto v = w.read_f32(name);
    return Eigen::Map<const Vector>(v.data(), static_cast<int64_t>(v.size()));
}
}  // namespace

std::shared_ptr<const LayerWeights> Transformer::build_layer(int i) {
    const auto& c = config();
    const auto& L = m_model->layout();
    const auto& ws = m_model->weights();
    auto lw = std::make_shared<LayerWeights>();
    lw->input_norm = read_vector(ws, TensorNames::input_norm(i));
    lw->post_norm = read_vector(ws, TensorNames::post_norm(i));
    if (m_opt.rotation) {  // folded into q/k/v and gate/up
        lw->input_norm.setOnes();
        lw->post_norm.setOnes();
    }
    std::optional<Vector> qb, kb, vb;
    if (c.attention_bias && !L.packed_qkv) {
        qb = read_vector(ws, TensorNames::q_bias(i));
        kb = read_vector(ws, TensorNames::k_bias(i));
        vb = read_vector(ws, TensorNames::v_bias(i));
        if (m_opt.rotation) vb = m_opt.rotation->transform_bias(TensorNames::v_bias(i), *vb);
    }
    std::shared_ptr<const RowMatrix> full;  // a packed tensor's fp32 copy, shared by its slices
    if (L.packed_qkv) {
        const int64_t Q = c.q_dim(), KV = c.kv_dim();
        if (c.attention_bias && ws.has(TensorNames::layer(i, "self_attn.qkv_proj.bias"))) {
            const Vector b = read_vector(ws, TensorNames::layer(i, "self_attn.qkv_proj.bias"));
            qb = b.segment(0, Q);
            kb = b.segment(Q, KV);
            vb = b.segment(Q + KV, KV);
        }
        lw->q = slice_linear(TensorNames::qkv(i), 0, Q, full, qb);
        lw->k = slice_linear(TensorNames::qkv(i), Q, KV, full, kb);
        lw->v = slice_linear(TensorNames::qkv(i), Q + KV, KV, full, vb);
        full.reset();
    } else {
        lw->q = slice_linear(TensorNames::q(i), 0, -1, full, qb);
        lw->k = slice_linear(TensorNames::k(i), 0, -1, full, kb);
        lw->v = slice_linear(TensorNames::v(i), 0, -1, full, vb);
    }
    lw->o = slice_linear(TensorNames::o(i), 0, -1, full, std::nullopt);
    if (L.fused_gate_up) {
        const int64_t I = c.intermediate_size;
        lw->gate = slice_linear(TensorNames::gate_up(i), 0, I, full, std::nullopt);
        lw->up = slice_linear(TensorNames::gate_up(i), I, I, full, std::nullopt);
        full.reset();
    } else {
        lw->gate = slice_linear(TensorNames::gate(i), 0, -1, full, std::nullopt);
        lw->up = slice_linear(TensorNames::up(i), 0, -1, full, std::nullopt);
    }
    lw->down = slice_linear(TensorNames::down(i), 0, -1, full, std::nullopt);
    if (c.qk_norm) {
        lw->q_norm = read_vector(ws, TensorNames::q_norm(i));
        lw->k_norm = read_vector(ws, TensorNames::k_norm(i));
    }
    return lw;
}

const uint16_t* Transformer::stored_half(const std::string& tensor, io::DType* dtype) const {
    if (!m_opt.weights_as_stored || m_opt.rotation || m_overrides.count(tensor)) return nullptr;
    const auto& ws = m_model->weights();
    const auto& info = ws.info(tensor);
    if (info.dtype == io::DType::F32 || info.shape.size() != 2) return nullptr;
    *dtype = info.dtype;
    if (m_checked_in_place.insert(tensor).second) {
        ws.raw_checked(tensor);  // NaN / Inf refused, once per tensor
        if (!m_opt.resident) ws.release(tensor);  // the scan touched every page; a streamed model keeps none
    }
    return reinterpret_cast<const uint16_t*>(ws.raw(info));
}

namespace {
/// Keeps the model open while an in-place linear reads its mapped bytes; without `resident`, also releases the
/// tensor's pages when the last linear reading them is dropped (a streamed layer leaves no resident pages behind,
/// as load_matrix's release does for fp32 copies).
struct PagesLease {
    PagesLease(std::shared_ptr<const io::Model> m, std::string t) : model(std::move(m)), tensor(std::move(t)) {}
    PagesLease(const PagesLease&) = delete;
    PagesLease& operator=(const PagesLease&) = delete;
    std::shared_ptr<const io::Model> model;
    std::string tensor;
    ~PagesLease() {
        try {
            model->weights().release(tensor);
        } catch (...) {  // releasing is advice only
        }
    }
};
}  // namespace

std::shared_ptr<const Linear> Transformer::slice_linear(const std::string& tensor, int64_t row0, int64_t nrows,
                                                        std::shared_ptr<const RowMatrix>& full,
                                                        std::optional<Vector> bias) {
    io::DType dtype;
    if (const uint16_t* raw = stored_half(tensor, &dtype)) {
        const auto& info = m_model->weights().info(tensor);
        const int64_t K = info.shape[1];
        const int64_t n = nrows < 0 ? info.shape[0] : nrows;
        std::shared_ptr<const void> keep = m_model;
        if (!m_opt.resident) keep = std::make_shared<const PagesLease>(m_model, tensor);
        return std::make_shared<HalfLinear>(raw + row0 * K, n, K, dtype, std::move(keep), std::move(bias),
                                            act_block(tensor));
    }
    if (nrows < 0) return std::make_shared<DenseLinear>(*weight(tensor), std::move(bias), act_block(tensor));
    if (!full) full = weight(tensor);
    return std::make_shared<DenseLinear>(full->middleRows(row0, nrows), std::move(bias), act_block(tensor));
}

std::shared_ptr<const LayerWeights> Transformer::layer_weights(int i) {
    if (i < 0 || i >= config().num_layers) fail(m_model->dir().string(), "layer index out of range");
    if (m_layers[i]) return m_layers[i];
    auto lw = build_layer(i);
    if (m_opt.resident) m_layers[i] = lw;
    return lw;
}

const RowMatrix& Transformer::embed_table() {
    if (!m_embed) m_embed = weight(TensorNames::embed());
    return *m_embed;
}

const RowMatrix& Transformer::lm_head_matrix() {
    if (!m_lm_head) {
        if (m_model->layout().tied_embeddings) {
            embed_table();
            m_lm_head = m_embed;
        } else {
            m_lm_head = weight(TensorNames::lm_head());
        }
    }
    return *m_lm_head;
}

RowMatrix Transformer::embed(const std::vector<int>& ids) {
    io::DType dtype;
    if (const uint16_t* raw = stored_half(TensorNames::embed(), &dtype)) {
        const auto& info = m_model->weights().info(TensorNames::embed());
        for (int id : ids)
            if (id < 0 || id >= info.shape[0])
                fail("input ids", "token id " + std::to_string(id) + " is outside the vocabulary (size " +
                                      std::to_string(info.shape[0]) + ")");
        return gather_rows_half(raw, info.shape[1], dtype, ids);
    }
    return gather_rows(embed_table(), ids);
}

RowMatrix Transformer::gather_rows(const RowMatrix& e, const std::vector<int>& ids) {
    RowMatrix h(static_cast<int64_t>(ids.size()), e.cols());
    for (size_t t = 0; t < ids.size(); ++t) {
        if (ids[t] < 0 || ids[t] >= e.rows())
            fail("input ids", "token id " + std::to_string(ids[t]) + " is outside the vocabulary (size " +
                                  std::to_string(e.rows()) + ")");
        h.row(static_cast<int64_t>(t)) = e.row(ids[t]);
    }
    return h;
}

void Transformer::check_finite(const RowMatrix& m, int layer, const char* part,
                               const std::vector<SeqSpan>& spans) const {
    const int64_t bad = first_nonfinite_row(m);  // allocates nothing when all is finite
    if (bad < 0) return;
    size_t s = 0;
    while (s + 1 < spans.size() && bad >= spans[s].row0 + spans[s].rows) ++s;
    const SeqSpan& sp = spans[s];
    // "activations at layer 3 MLP output, position 7[ of sequence 2 of 8 in the batch]"
    std::string at = std::string(part ? "activations" : "logits") + " at ";
    if (part) at += "layer " + std::to_string(layer) + " " + part + ", ";
    at += "position " + std::to_string(sp.pos0 + (bad - sp.row0));
    if (spans.size() > 1)
        at += " of sequence " + std::to_string(s + 1) + " of " + std::to_string(spans.size()) + " in the batch";
    fail_nonfinite(m_model->dir().string(), at);
}

void Transformer::layer_forward(int layer, const LayerWeights& w, RowMatrix& hidden, const std::vector<SeqSpan>& spans,
                                LayerTaps* taps) {
    const auto& c = config();
    const float eps = static_cast<float>(c.rms_norm_eps);
    const int T = static_cast<int>(hidden.rows());  // all sequences' rows
    const int d = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads, group = nh / nkv;

    RowMatrix x = hidden;
    rms_norm_rows(x, w.input_norm, eps);
    if (taps) taps->attn_in = x;
    RowMatrix q, k, v;
    w.q->forward(x, q);
    w.k->forward(x, k);
    w.v->forward(x, v);
    if (c.qk_norm) {
        for (int t = 0; t < T; ++t) {
            for (int h = 0; h < nh; ++h) {
                Eigen::Map<RowMatrix> seg(q.row(t).data() + h * d, 1, d);
                RowMatrix tmp = seg;
                rms_norm_rows(tmp, w.q_norm, eps);
                seg = tmp;
            }
            for (int h = 0; h < nkv; ++h) {
                Eigen::Map<RowMatrix> seg(k.row(t).data() + h * d, 1, d);
                RowMatrix tmp = seg;
                rms_norm_rows(tmp, w.k_norm, eps);
                seg = tmp;
            }
        }
    }
    for (const auto& sp : spans) {  // each sequence at its own positions
        m_rope.apply(q, sp.row0, sp.rows, nh, sp.pos0);
        m_rope.apply(k, sp.row0, sp.rows, nkv, sp.pos0);
    }

    // Per sequence: the keys/values it attends to (its cache, its new rows appended; or its new rows alone).
    struct Keys {
        const RowMatrix *K, *V;
        int64_t row0;  ///< first key row in K/V
        int total;     ///< keys visible to the last row
        int base;      ///< position of the first new row among the keys
    };
    std::vector<Keys> keys;
    keys.reserve(spans.size());
    int64_t work = 0;
    for (const auto& sp : spans) {
        if (KVCache* cache = sp.cache) {
            if (sp.pos0 + sp.rows > cache->capacity())
                fail("kv cache", "sequence of " + std::to_string(sp.pos0 + sp.rows) +
                                     " positions exceeds the cache capacity " + std::to_string(cache->capacity()));
            cache->k[layer].middleRows(sp.pos0, sp.rows) = k.middleRows(sp.row0, sp.rows);
            cache->v[layer].middleRows(sp.pos0, sp.rows) = v.middleRows(sp.row0, sp.rows);
            keys.push_back({&cache->k[layer], &cache->v[layer], 0, sp.pos0 + sp.rows, sp.pos0});
        } else {
            keys.push_back({&k, &v, sp.row0, sp.rows, 0});
        }
        work += int64_t(sp.rows) * keys.back().total * nh;
    }

    RowMatrix attn(T, nh * d);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int window = c.window(layer);  // sliding window: keys (p - window, p] (0: all keys <= p)
    const int pairs = static_cast<int>(spans.size()) * nh;
#pragma omp parallel for schedule(dynamic) if (work > 32768)
    for (int p = 0; p < pairs; ++p) {
        const SeqSpan& sp = spans[static_cast<size_t>(p / nh)];
        const Keys& kv = keys[static_cast<size_t>(p / nh)];
        const int h = p % nh, g = h / group, total = kv.total;
        RowMatrix scores =
            (q.block(sp.row0, h * d, sp.rows, d) * kv.K->block(kv.row0, g * d, total, d).transpose()) * scale;
        for (int t = 0; t < sp.rows; ++t) {
            const int limit = kv.base + t;  // causal: key j visible iff first <= j <= limit
            const int first = window > 0 ? std::max(0, limit - window + 1) : 0;
            auto row = scores.row(t);
            float mx = -INFINITY;
            for (int j = first; j <= limit; ++j) mx = std::max(mx, row(j));
            float sum = 0.0f;
            for (int j = 0; j < total; ++j) {
                const float e = j >= first && j <= limit ? std::exp(row(j) - mx) : 0.0f;
                row(j) = e;
                sum += e;
            }
            row /= sum;
        }
        attn.block(sp.row0, h * d, sp.rows, d) = scores * kv.V->block(kv.row0, g * d, total, d);
    }
    if (taps) taps->o_in = attn;
    RowMatrix o;
    w.o->forward(attn, o);
    hidden += o;
    check_finite(hidden, layer, "attention output", spans);

    x = hidden;
    rms_norm_rows(x, w.post_norm, eps);
    if (taps) taps->mlp_in = x;
    RowMatrix gate, up;
    w.gate->forward(x, gate);
    w.up->forward(x, up);
    gate = (gate.array() / (1.0f + (-gate.array()).exp())) * up.array();  // silu(gate) * up
    if (taps) taps->down_in = gate;
    RowMatrix down;
    w.down->forward(gate, down);
    hidden += down;
    check_finite(hidden, layer, "MLP output", spans);
}

void Transformer::run_layer(int layer, RowMatrix& hidden, KVCache* cache, int pos0) {
    auto w = layer_weights(layer);
    layer_forward(layer, *w, hidden, {SeqSpan{0, static_cast<int>(hidden.rows()), pos0, cache}}, nullptr);
}

void Transformer::run_layer_tapped(int layer, RowMatrix& hidden, LayerTaps& taps) {
    auto w = layer_weights(layer);
    layer_forward(layer, *w, hidden, {SeqSpan{0, static_cast<int>(hidden.rows()), 0, nullptr}}, &taps);
}

RowMatrix Transformer::final_hidden(const RowMatrix& hidden) {
    RowMatrix x = hidden;
    rms_norm_rows(x, m_final_norm, static_cast<float>(config().rms_norm_eps));
    return x;
}

RowMatrix Transformer::logits(const RowMatrix& hidden) { return head_logits(hidden, 0); }

RowMatrix Transformer::head_logits(const RowMatrix& hidden, int pos0) {
    RowMatrix out = unchecked_logits(hidden);
    check_finite(out, -1, nullptr, {SeqSpan{0, static_cast<int>(out.rows()), pos0, nullptr}});
    return out;
}

RowMatrix Transformer::unchecked_logits(const RowMatrix& hidden) {
    RowMatrix x = final_hidden(hidden);
    RowMatrix out;
    const bool tied = m_model->layout().tied_embeddings;
    const std::string head = tied ? TensorNames::embed() : TensorNames::lm_head();
    io::DType dtype;
    if (const uint16_t* raw = stored_half(head, &dtype)) {
        const auto& info = m_model->weights().info(head);
        if (const int64_t block = act_block(head); block > 0)
            fake_quantize_activation_rows(x.data(), x.rows(), x.cols(), block);
        matmul_wt_half(x, raw, info.shape[0], info.shape[1], dtype, out);
        return out;
    }
    matmul_wt_act(x, lm_head_matrix(), out, act_block(head));
    return out;
}

RowMatrix Transformer::logits_with(const RowMatrix& hidden, const RowMatrix& lm_head) {
    RowMatrix x = final_hidden(hidden);
    RowMatrix out;
    matmul_wt(x, lm_head, out);
    check_finite(out, -1, nullptr, {SeqSpan{0, static_cast<int>(out.rows()), 0, nullptr}});
    return out;
}

RowMatrix Transformer::forward(const std::vector<int>& ids, KVCache* cache) {
    if (ids.empty()) fail("input ids", "empty sequence");
    const int pos0 = cache ? cache->length : 0;
    RowMatrix h = embed(ids);
    for (int l = 0; l < config().num_layers; ++l) run_layer(l, h, cache, pos0);
    if (cache) cache->length = pos0 + static_cast<int>(ids.size());
    return head_logits(h, pos0);
}

uint64_t Transformer::decode_weight_bytes() {
    uint64_t b = 0;
    for (const auto& t : m_model->layout().linears) {
        io::DType dtype;
        const bool in_place = m_model->weights().has(t.name) && stored_half(t.name, &dtype);
        b += static_cast<uint64_t>(t.numel()) * (in_place ? 2 : 4);
    }
    return b;
}

}  // namespace mixq::engine
