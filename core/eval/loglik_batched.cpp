// SPDX-License-Identifier: MIT
// LoglikScorer::score_many when batching: every question's continuations become rows of fresh sequences (one per
// multi-token continuation: context + continuation without its last token; one-token continuations read the
// context's last position from a row with the same context, the context alone if none), rows are sorted by length
// and handed to the model in forwards of at most `batch` rows and `max_batch_tokens` padded positions (and logits
// within 256 MiB). Each
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
            rows.push_back(std::move(s));
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

    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a].ids.size() < rows[b].ids.size(); });
    const int64_t cap = std::min(m_opt.max_batch_tokens > 0 ? m_opt.max_batch_tokens : kDefaultBatchTokens,
                                 logits_token_cap(m_lm.vocab_size()));

    std::vector<std::vector<LoglikResult>> out(questions.size());
    for (size_t q = 0; q < questions.size(); ++q) out[q].resize(questions[q].continuations.size());
    size_t next = 0;
    while (next < order.size()) {
        // Sorted ascending, so the last row taken is the longest: padded positions = count * its length.
        size_t end = next + 1;
        while (end < order.size() && static_cast<int>(end - next) < m_opt.batch &&
               static_cast<int64_t>(end - next + 1) * static_cast<int64_t>(rows[order[end]].ids.size()) <= cap)
            ++end;
        std::vector<engine::BatchSeq> batch;
        int64_t longest = 0, real = 0;
        for (size_t i = next; i < end; ++i) {
            batch.push_back(rows[order[i]]);
            longest = std::max<int64_t>(longest, static_cast<int64_t>(rows[order[i]].ids.size()));
            real += static_cast<int64_t>(rows[order[i]].ids.size());
        }
        const std::vector<engine::RowMatrix> logits = m_lm.logits_batch(batch, cancel);
        ++m_stats.forwards;
        m_stats.tokens_fed += real;
        m_stats.padding_tokens += longest * static_cast<int64_t>(batch.size()) - real;
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
