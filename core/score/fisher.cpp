// SPDX-License-Identifier: MIT
// Self-sampled label gradients and diagonal-Fisher accumulation (see fisher.h).
#include "core/score/fisher.h"

#include <cmath>
#include <random>
#include <vector>

#include "core/common/error.h"

namespace mixq::score {
using engine::RowMatrix;

RowMatrix sampled_label_grad(const RowMatrix& logp, uint64_t seed) {
    std::mt19937_64 rng(seed);
    RowMatrix g(logp.rows(), logp.cols());
    for (int64_t t = 0; t < logp.rows(); ++t) {
        const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform [0, 1), platform-independent
        for (int64_t j = 0; j < logp.cols(); ++j) g(t, j) = -static_cast<float>(std::exp(static_cast<double>(logp(t, j))));
        int64_t label = logp.cols() - 1;  // the last label also takes the rounding remainder of the CDF
        double cdf = 0.0;
        for (int64_t j = 0; j + 1 < logp.cols(); ++j) {
            cdf -= static_cast<double>(g(t, j));
            if (cdf > u) {
                label = j;
                break;
            }
        }
        g(t, label) += 1.0f;
    }
    return g;
}

namespace {
void add_squared_grad(RowMatrix& acc, const RowMatrix& delta, const RowMatrix& x) {
    RowMatrix gw = delta.transpose() * x;  // [N, K]
    if (acc.size() == 0) acc = RowMatrix::Zero(gw.rows(), gw.cols());
    acc.array() += gw.array().square();
}
}  // namespace

void LayerFisher::add(const engine::LinearGrads& g, const engine::Transformer::LayerTaps& taps) {
    add_squared_grad(q, g.q, taps.attn_in);
    add_squared_grad(k, g.k, taps.attn_in);
    add_squared_grad(v, g.v, taps.attn_in);
    add_squared_grad(o, g.o, taps.o_in);
    add_squared_grad(gate, g.gate, taps.mlp_in);
    add_squared_grad(up, g.up, taps.mlp_in);
    add_squared_grad(down, g.down, taps.down_in);
}

namespace {
/// The accumulators a member's rows come from, in file order (F: LayerFisher or const LayerFisher).
template <class F>
auto parts_of(F& f, io::LinearRole role) -> std::vector<decltype(&f.q)> {
    switch (role) {
        case io::LinearRole::Q: return {&f.q};
        case io::LinearRole::K: return {&f.k};
        case io::LinearRole::V: return {&f.v};
        case io::LinearRole::QKV: return {&f.q, &f.k, &f.v};
        case io::LinearRole::O: return {&f.o};
        case io::LinearRole::Gate: return {&f.gate};
        case io::LinearRole::Up: return {&f.up};
        case io::LinearRole::GateUp: return {&f.gate, &f.up};
        case io::LinearRole::Down: return {&f.down};
        default: break;
    }
    fail("fisher", "not a decoder-layer linear");
}
}  // namespace

void LayerFisher::release(io::LinearRole role) {
    for (auto* m : parts_of(*this, role)) *m = RowMatrix();
}

double LayerFisher::member_kld_sum(io::LinearRole role, const RowMatrix& w, const RowMatrix& wq) const {
    const auto parts = parts_of(*this, role);
    double s = 0.0;
    int64_t row = 0;
    for (const auto* f : parts) {
        if (row + f->rows() > w.rows()) fail("fisher", "Fisher and weight shapes differ");
        s += fisher_kld_sum(*f, samples, w.middleRows(row, f->rows()), wq.middleRows(row, f->rows()));
        row += f->rows();
    }
    if (row != w.rows()) fail("fisher", "Fisher and weight shapes differ");
    return s;
}

double fisher_kld_sum(const ConstRowRef& fisher, int samples, const ConstRowRef& w, const ConstRowRef& wq) {
    if (fisher.rows() != w.rows() || fisher.cols() != w.cols() || wq.rows() != w.rows() || wq.cols() != w.cols())
        fail("fisher", "Fisher and weight shapes differ");
    double s = 0.0;
    for (int64_t r = 0; r < w.rows(); ++r)
        s += (fisher.row(r).array() * (w.row(r) - wq.row(r)).array().square()).cast<double>().sum();
    return 0.5 * s / std::max(samples, 1);
}

}  // namespace mixq::score
