// SPDX-License-Identifier: MIT
// Log-likelihood of continuations given a context, the quantity multiple-choice tasks compare.
// LoglikSource is what tasks call (tests substitute a fake with known answers); LoglikScorer computes it with a
// LanguageModel and a tokenizer the way lm-evaluation-harness does:
//  - trailing whitespace of the context moves to the front of each continuation;
//  - context and continuation are encoded separately (no special tokens) and the ids concatenated, so every
//    choice shares the context's ids exactly and only the continuation's own tokens are scored (encoding
//    context+continuation as one string can merge tokens across the boundary; scorer stats count how often
//    that would have given different ids);
//  - an empty context becomes one end-of-text token; inputs longer than the context window keep their last
//    (window + 1) tokens (left truncation), as the harness does;
//  - sum of log-softmax of the continuation tokens, plus whether each was the greedy (argmax) choice.
// With prefix reuse (default) the shared context runs once and each continuation continues a fork of its KV
// state; one-token continuations (MMLU's " A") then cost nothing beyond the context.
#pragma once
#include <string>
#include <vector>

#include "core/engine/language_model.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::eval {

struct LoglikResult {
    double logprob = 0.0;  ///< sum over continuation tokens of log p(token | prefix)
    bool greedy = false;   ///< every continuation token was the argmax
    int tokens = 0;        ///< continuation tokens scored
};

class LoglikSource {
public:
    virtual ~LoglikSource() = default;
    /// Scores each continuation after the same context.
    virtual std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& continuations) = 0;
};

struct LoglikOptions {
    bool reuse_prefix = true;
    int max_length = 0;           ///< 0: the model's context length
    int empty_context_token = -1; ///< id standing for an empty context (end-of-text); required only then
    std::string label = "loglikelihood";  ///< names the model in errors (non-finite logits)
};

struct LoglikStats {
    int64_t requests = 0;             ///< continuations scored
    int64_t tokens_fed = 0;           ///< positions run through the model
    int64_t truncated = 0;            ///< requests whose context was left-truncated
    int64_t boundary_mismatches = 0;  ///< requests where encode(context+continuation) != encode(context)+encode(continuation)
};

class LoglikScorer : public LoglikSource {
public:
    LoglikScorer(engine::LanguageModel& lm, const tok::Tokenizer& tok, LoglikOptions opt = {});
    std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& continuations) override;
    const LoglikStats& stats() const { return m_stats; }

private:
    engine::LanguageModel& m_lm;
    const tok::Tokenizer& m_tok;
    LoglikOptions m_opt;
    LoglikStats m_stats;
};

/// log p(target) and whether it is the argmax, from one row of logits (double-precision log-sum-exp).
double token_logprob(const float* logits, int vocab, int target, bool* is_argmax = nullptr);

}  // namespace mixq::eval
