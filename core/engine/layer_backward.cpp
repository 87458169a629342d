// SPDX-License-Identifier: MIT
// Taped forward and backward pass of a decoder layer (RMSNorm, q/k/v, q/k norm, RoPE, causal GQA attention with
// sliding window, o, RMSNorm, SiLU-gated MLP, residuals) and of the output head (final norm, lm_head).
#include "core/engine/layer_backward.h"

#include <cmath>

namespace mixq::engine {
namespace {

const RowMatrix& weight_of(const std::shared_ptr<const Linear>& l) {
    return dynamic_cast<const DenseLinear&>(*l).weight();
}

/// dx = dy · W for y = x · Wᵀ (+ b).
RowMatrix linear_backward(const std::shared_ptr<const Linear>& l, const RowMatrix& dy) {
    return dy * weight_of(l);
}

/// RMSNorm of each head_dim segment of every row (q/k norm), in place.
void head_norm(RowMatrix& x, int n_heads, int d, const Vector& w, float eps) {
    for (int64_t t = 0; t < x.rows(); ++t)
        for (int h = 0; h < n_heads; ++h) {
            Eigen::Map<RowMatrix> seg(x.row(t).data() + h * d, 1, d);
            RowMatrix tmp = seg;
            rms_norm_rows(tmp, w, eps);
            seg = tmp;
        }
}

RowMatrix head_norm_backward(const RowMatrix& x, int n_heads, int d, const Vector& w, float eps, const RowMatrix& g) {
    // Segments viewed as rows of a [T * n_heads, d] matrix (row-major layouts coincide).
    const Eigen::Map<const RowMatrix> xs(x.data(), x.rows() * n_heads, d), gs(g.data(), g.rows() * n_heads, d);
    RowMatrix out = rms_norm_backward(xs, w, eps, gs);
    out.resize(x.rows(), x.cols());
    return out;
}

}  // namespace

RowMatrix rms_norm_backward(const RowMatrix& x, const Vector& weight, float eps, const RowMatrix& grad_y) {
    RowMatrix gx(x.rows(), x.cols());
    const double n = static_cast<double>(x.cols());
    for (int64_t t = 0; t < x.rows(); ++t) {
        const auto xr = x.row(t);
        const double r = 1.0 / std::sqrt(static_cast<double>(xr.squaredNorm()) / n + eps);
        const Eigen::RowVectorXf gw = grad_y.row(t).array() * weight.transpose().array();
        const double dot = static_cast<double>(gw.dot(xr));
        gx.row(t) = (gw.array() * static_cast<float>(r) - xr.array() * static_cast<float>(r * r * r * dot / n)).matrix();
    }
    return gx;
}

void rope_backward(const Rope& rope, int head_dim, RowMatrix& g, int n_heads, int pos0) {
    const int half = head_dim / 2;
    const auto& inv = rope.inv_freq();
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = 0; t < g.rows(); ++t) {
        const float pos = static_cast<float>(pos0 + t);
        for (int i = 0; i < half; ++i) {
            const float ang = pos * inv[static_cast<size_t>(i)];  // the forward's fp32 angle
            cs[static_cast<size_t>(i)] = std::cos(ang);
            sn[static_cast<size_t>(i)] = std::sin(ang);
        }
        float* row = g.row(t).data();
        for (int h = 0; h < n_heads; ++h) {
            float* v = row + h * head_dim;
            for (int i = 0; i < half; ++i) {  // transpose of [[c, -s], [s, c]]
                const float a = v[i], b = v[i + half];
                v[i] = a * cs[static_cast<size_t>(i)] + b * sn[static_cast<size_t>(i)];
                v[i + half] = b * cs[static_cast<size_t>(i)] - a * sn[static_cast<size_t>(i)];
            }
        }
    }
}

void layer_forward_taped(const io::ModelConfig& c, const Rope& rope, const LayerWeights& w, int layer,
                         RowMatrix& hidden, LayerTape& tape) {
    const float eps = static_cast<float>(c.rms_norm_eps);
    const int T = static_cast<int>(hidden.rows());
    const int d = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads, group = nh / nkv;
    tape.input = hidden;
    RowMatrix x = hidden;
    rms_norm_rows(x, w.input_norm, eps);
    tape.taps.attn_in = x;
    w.q->forward(x, tape.q_raw);
    w.k->forward(x, tape.k_raw);
    w.v->forward(x, tape.v);
    tape.q = tape.q_raw;
    tape.k = tape.k_raw;
    if (c.qk_norm) {
        head_norm(tape.q, nh, d, w.q_norm, eps);
        head_norm(tape.k, nkv, d, w.k_norm, eps);
    }
    rope.apply(tape.q, nh, 0);
    rope.apply(tape.k, nkv, 0);

    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int window = c.window(layer);
    RowMatrix attn(T, nh * d);
    tape.probs.assign(static_cast<size_t>(nh), RowMatrix());
    for (int h = 0; h < nh; ++h) {
        const int g = h / group;
        RowMatrix s = (tape.q.middleCols(h * d, d) * tape.k.middleCols(g * d, d).transpose()) * scale;  // [T, T]
        for (int t = 0; t < T; ++t) {
            const int first = window > 0 ? std::max(0, t - window + 1) : 0;
            auto row = s.row(t);
            float mx = -INFINITY;
            for (int j = first; j <= t; ++j) mx = std::max(mx, row(j));
            float sum = 0.0f;
            for (int j = 0; j < T; ++j) {
                const float e = j >= first && j <= t ? std::exp(row(j) - mx) : 0.0f;
                row(j) = e;
                sum += e;
            }
            row /= sum;
        }
        attn.middleCols(h * d, d) = s * tape.v.middleCols(g * d, d);
        tape.probs[static_cast<size_t>(h)] = std::move(s);
    }
    tape.taps.o_in = attn;
    RowMatrix o;
    w.o->forward(attn, o);
    hidden += o;
    tape.mid = hidden;

    x = hidden;
    rms_norm_rows(x, w.post_norm, eps);
    tape.taps.mlp_in = x;
    w.gate->forward(x, tape.gate);
    w.up->forward(x, tape.up);
    RowMatrix act = (tape.gate.array() / (1.0f + (-tape.gate.array()).exp())) * tape.up.array();
    tape.taps.down_in = act;
    RowMatrix down;
    w.down->forward(act, down);
    hidden += down;
}

RowMatrix layer_backward(const io::ModelConfig& c, const Rope& rope, const LayerWeights& w, int /*layer*/,
                         const LayerTape& tape, const RowMatrix& grad_out, LinearGrads* grads) {
    const float eps = static_cast<float>(c.rms_norm_eps);
    const int T = static_cast<int>(grad_out.rows());
    const int d = c.head_dim, nh = c.num_heads, nkv = c.num_kv_heads, group = nh / nkv;

    // MLP: out = mid + down(silu(gate) · up), gate/up = post_norm(mid) · Wᵀ.
    const RowMatrix& d_down = grad_out;
    const RowMatrix d_act = linear_backward(w.down, d_down);
    using RowArray = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto g = tape.gate.array();
    const RowArray sig = 1.0f / (1.0f + (-g).exp());
    RowMatrix d_up = (d_act.array() * g * sig).matrix();
    RowMatrix d_gate = (d_act.array() * tape.up.array() * sig * (1.0f + g * (1.0f - sig))).matrix();
    RowMatrix d_x2 = linear_backward(w.gate, d_gate) + linear_backward(w.up, d_up);
    RowMatrix d_mid = grad_out + rms_norm_backward(tape.mid, w.post_norm, eps, d_x2);

    // Attention: mid = input + o(attn), attn_h = softmax(q_h·k_gᵀ·scale) · v_g.
    const RowMatrix d_attn = linear_backward(w.o, d_mid);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    RowMatrix dq = RowMatrix::Zero(T, nh * d), dk = RowMatrix::Zero(T, nkv * d), dv = RowMatrix::Zero(T, nkv * d);
    for (int h = 0; h < nh; ++h) {
        const int gi = h / group;
        const RowMatrix& P = tape.probs[static_cast<size_t>(h)];
        const auto dO = d_attn.middleCols(h * d, d);
        dv.middleCols(gi * d, d).noalias() += P.transpose() * dO;
        RowMatrix dP = dO * tape.v.middleCols(gi * d, d).transpose();  // [T, T]
        const Eigen::VectorXf rowdot = (dP.array() * P.array()).rowwise().sum();
        RowMatrix dS = (P.array() * (dP.array().colwise() - rowdot.array())).matrix() * scale;
        dq.middleCols(h * d, d).noalias() += dS * tape.k.middleCols(gi * d, d);
        dk.middleCols(gi * d, d).noalias() += dS.transpose() * tape.q.middleCols(h * d, d);
    }
    rope_backward(rope, d, dq, nh);
    rope_backward(rope, d, dk, nkv);
    if (c.qk_norm) {
        dq = head_norm_backward(tape.q_raw, nh, d, w.q_norm, eps, dq);
        dk = head_norm_backward(tape.k_raw, nkv, d, w.k_norm, eps, dk);
    }
    const RowMatrix d_x1 = linear_backward(w.q, dq) + linear_backward(w.k, dk) + linear_backward(w.v, dv);
    RowMatrix d_in = d_mid + rms_norm_backward(tape.input, w.input_norm, eps, d_x1);
    if (grads) {
        grads->q = std::move(dq);
        grads->k = std::move(dk);
        grads->v = std::move(dv);
        grads->o = d_mid;
        grads->gate = std::move(d_gate);
        grads->up = std::move(d_up);
        grads->down = grad_out;
    }
    return d_in;
}

RowMatrix head_backward(Transformer& tf, const RowMatrix& hidden, const RowMatrix& lm_head, const RowMatrix& grad_logits) {
    const RowMatrix d_x = grad_logits * lm_head;
    return rms_norm_backward(hidden, tf.final_norm_weight(), static_cast<float>(tf.config().rms_norm_eps), d_x);
}

}  // namespace mixq::engine
