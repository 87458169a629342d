// SPDX-License-Identifier: MIT
// LoglikScorer::score_many when batching: every question's continuations become rows of fresh sequences (one per
// multi-token continuation: context + continuation without its last token; one-token continuations read the
// context's last position from a row with the same context, the context alone if none). With prefix reuse each row
// names its context as a shared prefix, so a backend may compute it once per forward and continue its KV cache
// with each ending (batch_seq.h). Rows are ordered by their question's longest row (a question's rows adjacent) and
// handed to the model whole questions at a time, in forwards of at most `batch` rows and `max_batch_tokens` padded
// positions (the rows' own positions for a model that batches ragged rows; and logits within 256 MiB). Each
// continuation is scored at the same positions of the same sequence as one-at-a-time scoring does.
#include <algorithm>
#include <map>
#include <numeric>

#include "core/eval/loglik.h"

namespace mixq::eval {
namespace {

/// Where one continuation is scored: row `row`, whose returned logits start at the context's last position.
struct Use {
    size_t question, choice, row;
};

/// Padded positions per forward that keep its logits within 256 MiB.
int64_t logits_token_cap(int vocab) {
    return std::max<int64_t>(1, (int64_t(256) << 20) / (4 * static_cast<int64_t>(std::max(vocab, 1))));
}

}  // namespace

int LoglikScorer::questions_per_call() const {
    // A pool several forwards deep, so sorting by length leaves little padding.
    return batching() ? 4 * m_opt.batch : 1;
}

std::vector<std::vector<LoglikResult>> LoglikScorer::score_many(const std::vector<LoglikQuestion>& questions,
                                                                const CancelToken& cancel, const LoglikProgress& progress) {
    if (!batching()) return LoglikSource::score_many(questions, cancel, progress);
    std::vector<engine::BatchSeq> rows;
    std::vector<size_t> question_of_row;
    std::vector<Use> uses;
    std::vector<std::vector<Encoded>> encoded;
    encoded.reserve(questions.size());
    for (size_t q = 0; q < questions.size(); ++q) {
        encoded.push_back(encode(questions[q].context, questions[q].continuations));
        const auto& reqs = encoded.back();
        std::map<std::vector<int>, size_t> row_of_prefix;  // within one question (contexts differ across questions)
        auto add_row = [&](const Encoded& e, bool whole) {
            engine::BatchSeq s;
            s.ids = e.prefix;
            if (whole) s.ids.insert(s.ids.end(), e.cont.begin(), e.cont.end() - 1);
            s.first = static_cast<int>(e.prefix.size()) - 1;
            s.shared = m_opt.reuse_prefix ? static_cast<int>(e.prefix.size()) : 0;
            rows.push_back(std::move(s));
            question_of_row.push_back(q);
            return rows.size() - 1;
        };
        // Multi-token continuations first (each needs its own row), then one-token ones reuse a row's context.
        for (size_t c = 0; c < reqs.size(); ++c)
            if (reqs[c].cont.size() > 1 || !m_opt.reuse_prefix) {
                const size_t row = add_row(reqs[c], true);
                row_of_prefix.emplace(reqs[c].prefix, row);
                uses.push_back({q, c, row});
            }
        for (size_t c = 0; c < reqs.size() && m_opt.reuse_prefix; ++c)
            if (reqs[c].cont.size() == 1) {
                auto it = row_of_prefix.find(reqs[c].prefix);
                if (it == row_of_prefix.end()) it = row_of_prefix.emplace(reqs[c].prefix, add_row(reqs[c], false)).first;
                uses.push_back({q, c, it->second});
            }
    }
    std::vector<std::vector<size_t>> uses_of_row(rows.size());
    for (size_t u = 0; u < uses.size(); ++u) uses_of_row[uses[u].row].push_back(u);

    // By the question's longest row, a question's rows together (so its context is shared within one forward).
    std::vector<size_t> longest_of(questions.size(), 0);
    for (size_t i = 0; i < rows.size(); ++i)
        longest_of[question_of_row[i]] = std::max(longest_of[question_of_row[i]], rows[i].ids.size());
    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const size_t qa = question_of_row[a], qb = question_of_row[b];
        return longest_of[qa] != longest_of[qb] ? longest_of[qa] < longest_of[qb] : qa < qb;
    });
    const bool ragged = m_lm.batches_ragged();
    const int64_t cap = std::min(m_opt.max_batch_tokens > 0 ? m_opt.max_batch_tokens : kDefaultBatchTokens,
                                 logits_token_cap(m_lm.vocab_size()));

    std::vector<std::vector<LoglikResult>> out(questions.size());
    for (size_t q = 0; q < questions.size(); ++q) out[q].resize(questions[q].continuations.size());
    size_t next = 0;
    while (next < order.size()) {
        // Rows are added while the forward's positions (as if unshared: an upper bound) stay within the cap:
        // padded ones, or the rows' own where the model concatenates them (ragged). A question joins whole, so
        // its shared context is computed once (split over two forwards it would be computed in each); only a
        // question too big for one forward on its own is cut, row by row.
        auto fits = [&](size_t upto) {  // rows order[next, upto)
            if (static_cast<int64_t>(upto - next) > m_opt.batch) return false;
            int64_t sum = 0, longest = 0;
            for (size_t i = next; i < upto; ++i) {
                const auto n = static_cast<int64_t>(rows[order[i]].ids.size());
                sum += n;
                longest = std::max(longest, n);
            }
            return (ragged ? sum : static_cast<int64_t>(upto - next) * longest) <= cap;
        };
        size_t end = next + 1;
        while (end < order.size()) {
            size_t step = end + 1;
            if (question_of_row[order[end]] != question_of_row[order[end - 1]])
                while (step < order.size() && question_of_row[order[step]] == question_of_row[order[end]]) ++step;
            if (!fits(step)) break;
            end = step;
        }
        std::vector<engine::BatchSeq> batch;
        for (size_t i = next; i < end; ++i) batch.push_back(rows[order[i]]);
        const std::vector<engine::RowMatrix> logits = m_lm.logits_batch(batch, cancel);
        const engine::BatchShape shape = engine::batch_shape(batch);
        m_stats.forwards += shape.split ? 2 : 1;
        m_stats.tokens_fed += shape.real;
        if (!ragged) m_stats.padding_tokens += shape.padded - shape.real;
        for (size_t i = next; i < end; ++i)
            for (size_t u : uses_of_row[order[i]]) {
                const auto& e = encoded[uses[u].question][uses[u].choice];
                LoglikResult res{0.0, true, static_cast<int>(e.cont.size())};
                add_scores(logits[i - next], 0, e.cont, 0, res);
                out[uses[u].question][uses[u].choice] = res;
            }
        next = end;
        if (progress) progress(static_cast<double>(next) / static_cast<double>(order.size()));
    }
    return out;
}

}  // namespace mixq::eval
