// SPDX-License-Identifier: MIT
// windowed_perplexity implementation (double-precision accumulation of log-softmax NLL).
#include "core/eval/perplexity.h"

#include <cmath>

#include "core/common/error.h"
#include "core/engine/finite_check.h"

namespace mixq::eval {

PerplexityResult windowed_perplexity(const std::function<engine::RowMatrix(const std::vector<int>&)>& logits_fn,
                                     const std::vector<int>& stream, int window, int64_t max_tokens,
                                     const JobContext& job, const std::string& label) {
    if (window < 2) fail("perplexity", "window must be at least 2 tokens");
    const int64_t S = std::min<int64_t>(static_cast<int64_t>(stream.size()), max_tokens);
    if (S <= window) fail("perplexity", "text has " + std::to_string(S) + " tokens, need more than the window (" +
                                            std::to_string(window) + ")");
    PerplexityResult r;
    const int64_t n_windows = (S - window + window - 1) / window;
    for (int64_t start = 0; start < S - window; start += window) {
        job.report(static_cast<double>(r.windows) / static_cast<double>(n_windows), "perplexity",
                   "window " + std::to_string(r.windows + 1) + "/" + std::to_string(n_windows));
        std::vector<int> ids(stream.begin() + start, stream.begin() + start + window);
        const engine::NonFiniteStep in_window("perplexity window " + std::to_string(r.windows + 1));
        const engine::RowMatrix logits = logits_fn(ids);
        for (int t = 0; t < window; ++t) {
            const int target = stream[static_cast<size_t>(start + t + 1)];
            const auto row = logits.row(t);
            const double mx = row.maxCoeff();
            double sum = 0.0;
            for (int64_t j = 0; j < row.size(); ++j) sum += std::exp(static_cast<double>(row(j)) - mx);
            const double nll = (mx + std::log(sum)) - static_cast<double>(row(target));
            if (!std::isfinite(nll))
                fail(label, "non-finite loss in perplexity window " + std::to_string(r.windows + 1) + " at token " +
                                std::to_string(start + t + 1) + " of the text: the model's logits hold NaN or Inf "
                                "(its weights or activations overflow)");
            r.nll_sum += nll;
            ++r.tokens;
        }
        ++r.windows;
    }
    r.ppl = std::exp(r.nll_sum / static_cast<double>(r.tokens));
    engine::check_finite_value(r.ppl, label, "perplexity (mean loss " + std::to_string(r.nll_sum / r.tokens) + " nats)");
    job.report(1.0, "perplexity");
    return r;
}

}  // namespace mixq::eval
