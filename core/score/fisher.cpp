// SPDX-License-Identifier: MIT
// Self-sampled label gradients and diagonal-Fisher accumulation (see fisher.h).
#include "core/score/fisher.h"

#include <cmath>
#include <random>

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

RowMatrix LayerFisher::member(io::LinearRole role) const {
    switch (role) {
        case io::LinearRole::Q: return q;
        case io::LinearRole::K: return k;
        case io::LinearRole::V: return v;
        case io::LinearRole::QKV: return vcat({&q, &k, &v});
        case io::LinearRole::O: return o;
        case io::LinearRole::Gate: return gate;
        case io::LinearRole::Up: return up;
        case io::LinearRole::GateUp: return vcat({&gate, &up});
        case io::LinearRole::Down: return down;
        default: break;
    }
    fail("fisher", "not a decoder-layer linear");
}

double fisher_kld_sum(const RowMatrix& fisher, int samples, const RowMatrix& w, const RowMatrix& wq) {
    if (fisher.rows() != w.rows() || fisher.cols() != w.cols() || wq.rows() != w.rows() || wq.cols() != w.cols())
        fail("fisher", "Fisher and weight shapes differ");
    double s = 0.0;
    for (int64_t r = 0; r < w.rows(); ++r)
        s += (fisher.row(r).array() * (w.row(r) - wq.row(r)).array().square()).cast<double>().sum();
    return 0.5 * s / std::max(samples, 1);
}

}  // namespace mixq::score
