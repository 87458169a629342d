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
// Batched (batch > 1 on a model that batches natively, e.g. the ONNX runner): score_many packs many questions'
// sequences into each forward (loglik_batched.cpp): one row per multi-token continuation (context + continuation),
// and for one-token continuations the context's own row (shared by all choices with that context); each row names
// its context as a shared prefix (computed once per forward by the ONNX runner), rows are ordered by length and
// right-padded, and every result equals the one-at-a-time scoring's (same sequences, same positions).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/language_model.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::eval {

struct LoglikResult {
    double logprob = 0.0;  ///< sum over continuation tokens of log p(token | prefix)
    bool greedy = false;   ///< every continuation token was the argmax
    int tokens = 0;        ///< continuation tokens scored
};

/// One question: continuations compared after a shared context.
struct LoglikQuestion {
    std::string context;
    std::vector<std::string> continuations;
};

/// Fraction (0..1) of a score_many call done so far.
using LoglikProgress = std::function<void(double)>;

class LoglikSource {
public:
    virtual ~LoglikSource() = default;
    /// Scores each continuation after the same context.
    virtual std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& continuations) = 0;
    /// Scores several questions (element i: question i's continuations). This default scores them one at a time,
    /// checking `cancel` and reporting progress after each; a batching source runs many per forward.
    virtual std::vector<std::vector<LoglikResult>> score_many(const std::vector<LoglikQuestion>& questions,
                                                              const CancelToken& cancel,
                                                              const LoglikProgress& progress = {}) {
        std::vector<std::vector<LoglikResult>> out;
        out.reserve(questions.size());
        for (const auto& q : questions) {
            cancel.check();
            out.push_back(score(q.context, q.continuations));
            if (progress) progress(static_cast<double>(out.size()) / static_cast<double>(questions.size()));
        }
        return out;
    }
    /// How many questions tasks should hand score_many at once (1: one at a time).
    virtual int questions_per_call() const { return 1; }
};

/// Padded positions per batched forward by default: more rows make each weight dequantization serve more positions,
/// but a forward much larger than this runs slower per position here (docs/PERFORMANCE.md, "Batched loglikelihood").
inline constexpr int64_t kDefaultBatchTokens = 256;

struct LoglikOptions {
    bool reuse_prefix = true;
    int max_length = 0;           ///< 0: the model's context length
    int empty_context_token = -1; ///< id standing for an empty context (end-of-text); required only then
    std::string label = "loglikelihood";  ///< names the model in errors (non-finite logits)
    /// Sequences per forward in score_many; > 1 batches when the model runs batches natively, 1 scores one
    /// question at a time (with prefix reuse as above).
    int batch = 1;
    /// Padded positions per batched forward at most; 0: kDefaultBatchTokens. Always also capped so the forward's
    /// logits stay within 256 MiB; a longer single row still runs alone.
    int64_t max_batch_tokens = 0;
};

struct LoglikStats {
    int64_t requests = 0;             ///< continuations scored
    int64_t tokens_fed = 0;           ///< positions run through the model
    int64_t truncated = 0;            ///< requests whose context was left-truncated
    int64_t boundary_mismatches = 0;  ///< requests where encode(context+continuation) != encode(context)+encode(continuation)
    int64_t forwards = 0;             ///< model forwards run (a batched forward counts once)
    int64_t padding_tokens = 0;       ///< padding positions computed by batched forwards
};

class LoglikScorer : public LoglikSource {
public:
    LoglikScorer(engine::LanguageModel& lm, const tok::Tokenizer& tok, LoglikOptions opt = {});
    std::vector<LoglikResult> score(const std::string& context, const std::vector<std::string>& continuations) override;
    std::vector<std::vector<LoglikResult>> score_many(const std::vector<LoglikQuestion>& questions,
                                                      const CancelToken& cancel,
                                                      const LoglikProgress& progress = {}) override;
    int questions_per_call() const override;
    const LoglikStats& stats() const { return m_stats; }

private:
    /// One continuation's token ids: the (possibly left-truncated) context it follows, and its own tokens.
    struct Encoded {
        std::vector<int> prefix, cont;
    };
    /// Harness tokenization of one question (whitespace move, separate encoding, truncation); counts stats.
    std::vector<Encoded> encode(const std::string& context, const std::vector<std::string>& continuations);
    /// Adds log p of `targets[t0..]` read from `rows` starting at row `row0` to `res` (fails on non-finite logits).
    void add_scores(const engine::RowMatrix& rows, int64_t row0, const std::vector<int>& targets, size_t t0,
                    LoglikResult& res) const;
    bool batching() const { return m_opt.batch > 1 && m_lm.batches_natively(); }

    engine::LanguageModel& m_lm;
    const tok::Tokenizer& m_tok;
    LoglikOptions m_opt;
    LoglikStats m_stats;
};

/// log p(target) and whether it is the argmax, from one row of logits (double-precision log-sum-exp).
double token_logprob(const float* logits, int vocab, int target, bool* is_argmax = nullptr);

}  // namespace mixq::eval
