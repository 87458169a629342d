// SPDX-License-Identifier: MIT
// Member weights, member replacement, fused unit weights, taps and output error of a decoder layer's units.
// A layer's linears are fp32 (DenseLinear) or 16-bit in place (HalfLinear, widened here on demand).
#include "core/score/layer_units.h"

#include <initializer_list>

#include "core/common/error.h"
#include "core/engine/half_linear.h"

namespace mixq::score {
using engine::DenseLinear;
using engine::HalfLinear;
using engine::LayerWeights;
using engine::RowMatrix;
using engine::Vector;
using io::LinearRole;

namespace {

[[noreturn]] void not_scorable() { fail("scorer", "a decoder-layer linear that is neither fp32 nor 16-bit in place"); }

/// The fp32 weight: a copy of a DenseLinear's, or a HalfLinear's 16-bit weights widened.
RowMatrix weight_of(const std::shared_ptr<const engine::Linear>& l) {
    if (const auto* d = dynamic_cast<const DenseLinear*>(l.get())) return d->weight();
    if (const auto* h = dynamic_cast<const HalfLinear*>(l.get())) return h->to_f32();
    not_scorable();
}
std::optional<Vector> bias_of(const std::shared_ptr<const engine::Linear>& l) {
    if (const auto* d = dynamic_cast<const DenseLinear*>(l.get())) return d->bias();
    if (const auto* h = dynamic_cast<const HalfLinear*>(l.get())) return h->bias();
    not_scorable();
}
RowMatrix vcat(std::initializer_list<const std::shared_ptr<const engine::Linear>*> parts) {
    int64_t rows = 0;
    for (auto* p : parts) rows += (*p)->out_features();
    RowMatrix out(rows, (**parts.begin())->in_features());
    int64_t r = 0;
    for (auto* p : parts) {
        const int64_t n = (*p)->out_features();
        out.middleRows(r, n) = weight_of(*p);
        r += n;
    }
    return out;
}
std::shared_ptr<const engine::Linear> dense(RowMatrix w, std::optional<Vector> b) {
    return std::make_shared<DenseLinear>(std::move(w), std::move(b));
}

}  // namespace

RowMatrix member_weight(const LayerWeights& w, LinearRole role) {
    switch (role) {
        case LinearRole::Q: return weight_of(w.q);
        case LinearRole::K: return weight_of(w.k);
        case LinearRole::V: return weight_of(w.v);
        case LinearRole::QKV: return vcat({&w.q, &w.k, &w.v});
        case LinearRole::O: return weight_of(w.o);
        case LinearRole::Gate: return weight_of(w.gate);
        case LinearRole::Up: return weight_of(w.up);
        case LinearRole::GateUp: return vcat({&w.gate, &w.up});
        case LinearRole::Down: return weight_of(w.down);
        default: break;
    }
    fail("scorer", "not a decoder-layer linear");
}

void replace_member(LayerWeights& w, LinearRole role, const RowMatrix& wq) {
    switch (role) {
        case LinearRole::Q: w.q = dense(wq, bias_of(w.q)); return;
        case LinearRole::K: w.k = dense(wq, bias_of(w.k)); return;
        case LinearRole::V: w.v = dense(wq, bias_of(w.v)); return;
        case LinearRole::QKV: {
            const int64_t q = w.q->out_features(), k = w.k->out_features();
            w.q = dense(wq.topRows(q), bias_of(w.q));
            w.k = dense(wq.middleRows(q, k), bias_of(w.k));
            w.v = dense(wq.bottomRows(wq.rows() - q - k), bias_of(w.v));
            return;
        }
        case LinearRole::O: w.o = dense(wq, bias_of(w.o)); return;
        case LinearRole::Gate: w.gate = dense(wq, std::nullopt); return;
        case LinearRole::Up: w.up = dense(wq, std::nullopt); return;
        case LinearRole::GateUp: {
            const int64_t i = w.gate->out_features();
            w.gate = dense(wq.topRows(i), std::nullopt);
            w.up = dense(wq.bottomRows(wq.rows() - i), std::nullopt);
            return;
        }
        case LinearRole::Down: w.down = dense(wq, std::nullopt); return;
        default: break;
    }
    fail("scorer", "not a decoder-layer linear");
}

RowMatrix fused_unit_weight(const LayerWeights& w, io::UnitKind kind) {
    switch (kind) {
        case io::UnitKind::QKV: return member_weight(w, LinearRole::QKV);
        case io::UnitKind::O: return member_weight(w, LinearRole::O);
        case io::UnitKind::GateUp: return member_weight(w, LinearRole::GateUp);
        case io::UnitKind::Down: return member_weight(w, LinearRole::Down);
        default: break;
    }
    fail("scorer", "unit kind has no fused decoder-layer linear");
}

const RowMatrix& tap_for(const engine::Transformer::LayerTaps& t, io::UnitKind kind) {
    switch (kind) {
        case io::UnitKind::QKV: return t.attn_in;
        case io::UnitKind::O: return t.o_in;
        case io::UnitKind::GateUp: return t.mlp_in;
        case io::UnitKind::Down: return t.down_in;
        default: break;
    }
    fail("scorer", "unit kind has no layer tap");
}

void add_output_error(const RowMatrix& x, const RowMatrix& w, const RowMatrix& dw, OutputError& err) {
    RowMatrix y, dy;
    engine::matmul_wt(x, w, y);
    engine::matmul_wt(x, dw, dy);
    err.num += static_cast<double>(dy.squaredNorm());
    err.den += static_cast<double>(y.squaredNorm());
}

void accumulate_output_error(const std::vector<const RowMatrix*>& xs, const RowMatrix& w, const RowMatrix& wq,
                             OutputError& err, const JobContext& job) {
    const RowMatrix dw = w - wq;
    for (const auto* x : xs) {
        job.check_cancel();  // two products per sequence; with an lm_head, each is [tokens, vocab]
        add_output_error(*x, w, dw, err);
    }
}

}  // namespace mixq::score
