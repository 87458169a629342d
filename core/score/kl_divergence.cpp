// SPDX-License-Identifier: MIT
// log_softmax and kl_sum.
#include "core/score/kl_divergence.h"

#include <cmath>

namespace mixq::score {

engine::RowMatrix log_softmax(const engine::RowMatrix& logits) {
    engine::RowMatrix out(logits.rows(), logits.cols());
    for (int64_t t = 0; t < logits.rows(); ++t) {
        const double mx = logits.row(t).maxCoeff();
        double sum = 0.0;
        for (int64_t j = 0; j < logits.cols(); ++j) sum += std::exp(static_cast<double>(logits(t, j)) - mx);
        const double lse = mx + std::log(sum);
        for (int64_t j = 0; j < logits.cols(); ++j) out(t, j) = static_cast<float>(static_cast<double>(logits(t, j)) - lse);
    }
    return out;
}

double kl_sum(const engine::RowMatrix& ref_logp, const engine::RowMatrix& logits) {
    double total = 0.0;
    for (int64_t t = 0; t < ref_logp.rows(); ++t) {
        const double mx = logits.row(t).maxCoeff();
        double sum = 0.0;
        for (int64_t j = 0; j < logits.cols(); ++j) sum += std::exp(static_cast<double>(logits(t, j)) - mx);
        const double lse = mx + std::log(sum);
        double kl = 0.0;
        for (int64_t j = 0; j < ref_logp.cols(); ++j) {
            const double lp = ref_logp(t, j);
            kl += std::exp(lp) * (lp - (static_cast<double>(logits(t, j)) - lse));
        }
        total += std::max(kl, 0.0);
    }
    return total;
}

}  // namespace mixq::score
