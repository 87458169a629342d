// SPDX-License-Identifier: MIT
// Measured KL divergence of an export against its baseline: KL(p_baseline ‖ p_target) per position over the
// perplexity text's windows (the same windows as windowed_perplexity), averaged, with top-1 agreement. This is
// the figure a plan's predicted KLD (the sum of its units' scored KLDs) is checked against.
#pragma once
#include <functional>
#include <vector>

#include "core/common/job.h"
#include "core/engine/tensor.h"

namespace mixq::eval {

struct MeasuredKld {
    double mean = 0.0;            ///< mean over positions of KL(p_baseline ‖ p_target), nats
    double max = 0.0;             ///< largest single-position KL
    double top1_agreement = 0.0;  ///< fraction of positions whose argmax agrees
    int64_t tokens = 0;           ///< positions compared
    int windows = 0;
};

using LogitsFn = std::function<engine::RowMatrix(const std::vector<int>&)>;

/// KL(p_reference ‖ p_target) in double precision over the windows windowed_perplexity uses (window tokens each,
/// starting at 0, window, … while start < min(stream, max_tokens) − window). Throws naming the window and position
/// when either model gives a non-finite logit, and when the two disagree on the vocabulary size.
MeasuredKld measured_kld(const LogitsFn& reference, const LogitsFn& target, const std::vector<int>& stream, int window,
                         int64_t max_tokens, const JobContext& job = null_job());

/// KL(p ‖ q) of two logit rows (log-softmax in double); exposed for tests.
double row_kld(const float* p_logits, const float* q_logits, int64_t vocab);

}  // namespace mixq::eval
