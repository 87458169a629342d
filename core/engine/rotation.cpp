// SPDX-License-Identifier: MIT
// Rotation::transform: which side of each weight the residual / head rotation multiplies, and the norm folds.
#include "core/engine/rotation.h"

#include "core/common/error.h"

namespace mixq::engine {
using io::TensorNames;

Rotation::Rotation(std::shared_ptr<const io::Model> model_ptr, uint64_t seed)
    : m_model(std::move(model_ptr)), m_seed(seed), m_residual(m_model->config().hidden_size, seed),
      m_head(m_model->config().head_dim, seed ^ 0x9e3779b97f4a7c15ull) {
    const io::Model& model = *m_model;
    if (model.layout().tied_embeddings)
        fail(model.dir().string(), "Hadamard rotation needs untied embeddings (folding the final norm into the lm_head "
                                   "separates it from the embedding table)");
    if (model.layout().packed_qkv)
        fail(model.dir().string(), "Hadamard rotation of a packed qkv_proj is not supported");
}

std::string Rotation::describe() const {
    return "hadamard(seed=" + std::to_string(m_seed) + ", residual " + std::to_string(m_residual.dim()) + " block " +
           std::to_string(m_residual.block()) + ", heads " + std::to_string(m_head.dim()) + ")";
}

Vector Rotation::norm(const std::string& name) const {
    const auto v = m_model->weights().read_f32(name);
    return Eigen::Map<const Vector>(v.data(), static_cast<int64_t>(v.size()));
}


namespace {
int layer_of(const std::string& t) {
    const std::string prefix = "model.layers.";
    return t.rfind(prefix, 0) == 0 ? std::atoi(t.c_str() + prefix.size()) : -1;
}
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Vector Rotation::transform_bias(const std::string& t, const Vector& b) const {
    if (!ends_with(t, "self_attn.v_proj.bias")) return b;
    const int d = m_model->config().head_dim;
    RowMatrix rows = Eigen::Map<const RowMatrix>(b.data(), b.size() / d, d);
    m_head.apply_rows(rows);
    return Eigen::Map<const Vector>(rows.data(), b.size());
}

Vector Rotation::transform_vector(const std::string& t, const Vector& v) const {
    if (t == TensorNames::final_norm() || ends_with(t, "input_layernorm.weight") ||
        ends_with(t, "post_attention_layernorm.weight"))
        return Vector::Ones(v.size());  // folded into the linears that read the norm's output
    return transform_bias(t, v);
}

RowMatrix Rotation::transform(const std::string& t, const RowMatrix& w_in) const {
    RowMatrix w = w_in;
    const int layer = layer_of(t);
    const int d = m_model->config().head_dim;
    auto fold_then_rotate_inputs = [&](const Vector& g) {
        w = w * g.asDiagonal();  // W·diag(g): the norm's scale moves into the reader
        m_residual.apply_rows(w);  // W·Q
    };
    if (t == TensorNames::embed()) {
        m_residual.apply_rows(w);  // E·Q
    } else if (t == TensorNames::lm_head()) {
        fold_then_rotate_inputs(norm(TensorNames::final_norm()));
    } else if (ends_with(t, "self_attn.q_proj.weight") || ends_with(t, "self_attn.k_proj.weight")) {
        fold_then_rotate_inputs(norm(TensorNames::input_norm(layer)));
    } else if (ends_with(t, "self_attn.v_proj.weight")) {
        fold_then_rotate_inputs(norm(TensorNames::input_norm(layer)));
        // each kv head's output v_h becomes v_h·Qh: rows of the head's block become Qhᵀ·W_block
        for (int64_t r = 0; r < w.rows(); r += d) m_head.apply_left_transpose(w.data() + r * w.cols(), w.cols());
    } else if (ends_with(t, "self_attn.o_proj.weight")) {
        // input per head is rotated by Qh: W_o·blockdiag(Qh); output writes the residual: Qᵀ·W_o
        RowMatrix seg(w.rows(), d);
        for (int64_t c = 0; c < w.cols(); c += d) {
            seg = w.middleCols(c, d);
            m_head.apply_rows(seg);
            w.middleCols(c, d) = seg;
        }
        m_residual.apply_left_transpose(w.data(), w.cols());
    } else if (ends_with(t, "mlp.gate_proj.weight") || ends_with(t, "mlp.up_proj.weight") ||
               ends_with(t, "mlp.gate_up_proj.weight")) {
        fold_then_rotate_inputs(norm(TensorNames::post_norm(layer)));
    } else if (ends_with(t, "mlp.down_proj.weight")) {
        m_residual.apply_left_transpose(w.data(), w.cols());  // Qᵀ·W_down
    } else {
        fail(t, "no rotation rule for this tensor");
    }
    return w;
}

}  // namespace mixq::engine
