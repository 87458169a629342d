// SPDX-License-Identifier: MIT
// Windowed perplexity over a token stream: non-overlapping windows of `window` tokens, each a fresh sequence,
// scoring the next token of every position (as golden/summary.json "heldout_windows" describes).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/tensor.h"

namespace mixq::eval {

struct PerplexityResult {
    double ppl = 0.0;
    double nll_sum = 0.0;
    int64_t tokens = 0;  ///< targets scored
    int windows = 0;
};

/// The token cap of `mixq ppl --max-tokens` and of `mixq eval --ppl` without --ppl-limit.
constexpr int64_t kDefaultPplMaxTokens = 32768;

/// `logits_fn(ids)` returns logits [ids.size(), vocab] of a fresh sequence. S = min(stream, max_tokens);
/// windows start at 0, window, 2·window, … while start < S − window; targets are stream[start+1 .. start+window].
/// A non-finite loss stops the run: mixq::Error "<label>: ... window W, position P ..." (label: the model).
PerplexityResult windowed_perplexity(const std::function<engine::RowMatrix(const std::vector<int>&)>& logits_fn,
                                     const std::vector<int>& stream, int window, int64_t max_tokens,
                                     const JobContext& job = null_job(), const std::string& label = "perplexity");

}  // namespace mixq::eval
