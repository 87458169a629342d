// SPDX-License-Identifier: MIT
// measured_kld: lockstep windows through the baseline and the target, KL and argmax agreement per position.
#include "core/eval/measured_kld.h"

#include <cmath>
#include <string>

#include "core/common/error.h"

namespace mixq::eval {
namespace {

/// log Σ exp(x) of a row, in double; NaN when the row holds a non-finite value.
double log_sum_exp(const float* x, int64_t n) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
        if (!std::isfinite(x[j])) return NAN;
        mx = std::max(mx, static_cast<double>(x[j]));
    }
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(x[j]) - mx);
    return mx + std::log(s);
}

int64_t argmax(const float* x, int64_t n) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j)
        if (x[j] > x[best]) best = j;
    return best;
}

}  // namespace

double row_kld(const float* p_logits, const float* q_logits, int64_t vocab) {
    const double lp = log_sum_exp(p_logits, vocab), lq = log_sum_exp(q_logits, vocab);
    if (!std::isfinite(lp) || !std::isfinite(lq)) return NAN;
    double kl = 0.0;
    for (int64_t j = 0; j < vocab; ++j) {
        const double log_p = static_cast<double>(p_logits[j]) - lp;
        const double log_q = static_cast<double>(q_logits[j]) - lq;
        kl += std::exp(log_p) * (log_p - log_q);
    }
    return std::max(kl, 0.0);  // rounding can leave -1e-17 for identical rows
}

MeasuredKld measured_kld(const LogitsFn& reference, const LogitsFn& target, const std::vector<int>& stream, int window,
                         int64_t max_tokens, const JobContext& job) {
    if (window < 2) fail("measured KLD", "window must be at least 2 tokens");
    const int64_t S = std::min<int64_t>(static_cast<int64_t>(stream.size()), max_tokens);
    if (S <= window)
        fail("measured KLD", "text has " + std::to_string(S) + " tokens, need more than the window (" +
                                 std::to_string(window) + ")");
    MeasuredKld r;
    double kl_sum = 0.0;
    int64_t agree = 0;
    const int64_t n_windows = (S - 1) / window;
    for (int64_t start = 0; start < S - window; start += window) {
        job.check_cancel();
        job.report(static_cast<double>(r.windows) / static_cast<double>(n_windows), "measured KLD",
                   "window " + std::to_string(r.windows + 1) + "/" + std::to_string(n_windows));
        const std::vector<int> ids(stream.begin() + start, stream.begin() + start + window);
        const engine::RowMatrix p = reference(ids);
        const engine::RowMatrix q = target(ids);
        if (p.cols() != q.cols())
            fail("measured KLD", "the baseline has " + std::to_string(p.cols()) + " logits per position, the target " +
                                     std::to_string(q.cols()));
        for (int t = 0; t < window; ++t) {
            const double kl = row_kld(p.row(t).data(), q.row(t).data(), p.cols());
            if (!std::isfinite(kl))
                fail("measured KLD", "non-finite logits at window " + std::to_string(r.windows + 1) + ", position " +
                                         std::to_string(t) + " (" +
                                         (std::isfinite(log_sum_exp(p.row(t).data(), p.cols())) ? "target" : "baseline") +
                                         " model)");
            kl_sum += kl;
            r.max = std::max(r.max, kl);
            agree += argmax(p.row(t).data(), p.cols()) == argmax(q.row(t).data(), q.cols());
            ++r.tokens;
        }
        ++r.windows;
    }
    r.mean = kl_sum / static_cast<double>(r.tokens);
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(r.tokens);
    job.report(1.0, "measured KLD");
    return r;
}

}  // namespace mixq::eval
