// SPDX-License-Identifier: MIT
// Member weights, member replacement, fused unit weights, taps and output error of a decoder layer's units.
#include "core/score/layer_units.h"

#include <initializer_list>

#include "core/common/error.h"

namespace mixq::score {
using engine::DenseLinear;
using engine::LayerWeights;
using engine::RowMatrix;
using engine::Vector;
using io::LinearRole;

namespace {

const RowMatrix& weight_of(const std::shared_ptr<const engine::Linear>& l) {
    return dynamic_cast<const DenseLinear&>(*l).weight();
}
std::optional<Vector> bias_of(const std::shared_ptr<const engine::Linear>& l) {
    return dynamic_cast<const DenseLinear&>(*l).bias();
}
RowMatrix vcat(std::initializer_list<const RowMatrix*> parts) {
    int64_t rows = 0;
    for (auto* p : parts) rows += p->rows();
    RowMatrix out(rows, (*parts.begin())->cols());
    int64_t r = 0;
    for (auto* p : parts) {
        out.middleRows(r, p->rows()) = *p;
        r += p->rows();
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
        case LinearRole::QKV: return vcat({&weight_of(w.q), &weight_of(w.k), &weight_of(w.v)});
        case LinearRole::O: return weight_of(w.o);
        case LinearRole::Gate: return weight_of(w.gate);
        case LinearRole::Up: return weight_of(w.up);
        case LinearRole::GateUp: return vcat({&weight_of(w.gate), &weight_of(w.up)});
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
