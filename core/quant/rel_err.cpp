// SPDX-License-Identifier: MIT
// Relative output error ||ΔW·Xᵀ|| / ||W·Xᵀ|| of quantized weights (fp32 products, double reductions).
#include "core/quant/rel_err.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/common/error.h"

namespace mixq::quant {

namespace {

void check_shapes(const engine::RowMatrix& w, const engine::RowMatrix& wq, Eigen::Index k_other, const char* what) {
    if (w.rows() != wq.rows() || w.cols() != wq.cols())
        fail("rel_err", "W is [" + std::to_string(w.rows()) + ", " + std::to_string(w.cols()) + "] but Wq is [" +
                            std::to_string(wq.rows()) + ", " + std::to_string(wq.cols()) + "]");
    if (k_other != w.cols())
        fail("rel_err", std::string(what) + " has " + std::to_string(k_other) + " columns, W has " +
                            std::to_string(w.cols()));
}

double ratio(double num2, double den2) {
    if (den2 <= 0.0) return num2 <= 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
    return std::sqrt(std::max(num2, 0.0) / den2);
}

double squared_norm(const Eigen::MatrixXf& m) { return m.cast<double>().squaredNorm(); }

}  // namespace

double rel_err(const engine::RowMatrix& w, const engine::RowMatrix& wq, const engine::RowMatrix& x) {
    check_shapes(w, wq, x.cols(), "X");
    const engine::RowMatrix d = w - wq;
    const Eigen::MatrixXf num = d * x.transpose();
    const Eigen::MatrixXf den = w * x.transpose();
    return ratio(squared_norm(num), squared_norm(den));
}

Eigen::MatrixXf gram(const engine::RowMatrix& x) {
    Eigen::MatrixXf g = Eigen::MatrixXf::Zero(x.cols(), x.cols());
    g.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    return g.selfadjointView<Eigen::Lower>();
}

double rel_err_gram(const engine::RowMatrix& w, const engine::RowMatrix& wq, const Eigen::MatrixXf& g) {
    check_shapes(w, wq, g.cols(), "G");
    if (g.rows() != g.cols()) fail("rel_err", "Gram matrix is not square");
    const engine::RowMatrix d = w - wq;
    const double num2 = (d * g).cwiseProduct(d).cast<double>().sum();
    const double den2 = (w * g).cwiseProduct(w).cast<double>().sum();
    return ratio(num2, den2);
}

}  // namespace mixq::quant
