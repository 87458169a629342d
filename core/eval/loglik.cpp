// SPDX-License-Identifier: MIT
// LoglikScorer: harness-style tokenization, left truncation, and one-question-at-a-time scoring with or without a
// shared KV prefix (batched scoring: loglik_batched.cpp).
#include "core/eval/loglik.h"

#include <cctype>
#include <cmath>

#include "core/common/error.h"

namespace mixq::eval {

double token_logprob(const float* logits, int vocab, int target, bool* is_argmax) {
    float mx = logits[0];
    int arg = 0;
    for (int j = 1; j < vocab; ++j)
        if (logits[j] > mx) {
            mx = logits[j];
            arg = j;
        }
    double sum = 0.0;
    for (int j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(logits[j]) - mx);
    if (is_argmax) *is_argmax = arg == target;
    return static_cast<double>(logits[target]) - mx - std::log(sum);
}

LoglikScorer::LoglikScorer(engine::LanguageModel& lm, const tok::Tokenizer& tok, LoglikOptions opt)
    : m_lm(lm), m_tok(tok), m_opt(opt) {}

std::vector<LoglikScorer::Encoded> LoglikScorer::encode(const std::string& context_in, const std::vector<std::string>& conts) {
    // Trailing whitespace of the context belongs to the continuation (lm-eval-harness _encode_pair).
    std::string context = context_in;
    size_t end = context.size();
    while (end > 0 && std::isspace(static_cast<unsigned char>(context[end - 1]))) --end;
    const std::string moved = context.substr(end);
    context.resize(end);

    std::vector<int> ctx_ids = m_tok.encode(context);
    if (ctx_ids.empty()) {
        if (m_opt.empty_context_token < 0) fail("loglikelihood", "empty context and no end-of-text token to stand for it");
        ctx_ids = {m_opt.empty_context_token};
    }
    const int vocab = m_lm.vocab_size();
    const size_t window = static_cast<size_t>(m_opt.max_length > 0 ? m_opt.max_length : m_lm.context_length());

    std::vector<Encoded> reqs(conts.size());
    for (size_t r = 0; r < conts.size(); ++r) {
        const std::string cont = moved + conts[r];
        std::vector<int> cont_ids = m_tok.encode(cont);
        if (cont_ids.empty()) fail("loglikelihood", "continuation '" + conts[r] + "' encodes to no tokens");
        for (int id : cont_ids)
            if (id < 0 || id >= vocab)
                fail(m_opt.label + "/tokenizer.json", "token id " + std::to_string(id) + " (from continuation '" + conts[r] +
                                                          "') is outside the model's vocabulary of " + std::to_string(vocab));
        if (!context.empty()) {
            std::vector<int> whole = m_tok.encode(context + cont);
            std::vector<int> cat = ctx_ids;
            cat.insert(cat.end(), cont_ids.begin(), cont_ids.end());
            if (whole != cat) ++m_stats.boundary_mismatches;
        }
        std::vector<int> all = ctx_ids;
        all.insert(all.end(), cont_ids.begin(), cont_ids.end());
        if (all.size() > window + 1) {
            all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(window + 1));
            ++m_stats.truncated;
        }
        if (cont_ids.size() >= all.size())
            fail("loglikelihood", "continuation of " + std::to_string(cont_ids.size()) + " tokens does not fit the " +
                                      std::to_string(window) + "-token window");
        reqs[r].prefix.assign(all.begin(), all.end() - static_cast<std::ptrdiff_t>(cont_ids.size()));
        reqs[r].cont = std::move(cont_ids);
    }

    m_stats.requests += static_cast<int64_t>(conts.size());
    return reqs;
}

void LoglikScorer::add_scores(const engine::RowMatrix& rows, int64_t row0, const std::vector<int>& targets, size_t t0,
                              LoglikResult& res) const {
    const int vocab = m_lm.vocab_size();
    for (size_t t = t0; t < targets.size(); ++t) {
        bool is_max = false;
        res.logprob += token_logprob(rows.row(row0 + static_cast<int64_t>(t - t0)).data(), vocab, targets[t], &is_max);
        res.greedy = res.greedy && is_max;
        if (!std::isfinite(res.logprob))
            fail(m_opt.label, "the model's logits hold NaN or Inf (non-finite log-likelihood of token " +
                                  std::to_string(targets[t]) + " in a " + std::to_string(targets.size()) +
                                  "-token continuation); its weights or activations overflow");
    }
}

std::vector<LoglikResult> LoglikScorer::score(const std::string& context, const std::vector<std::string>& conts) {
    const std::vector<Encoded> reqs = encode(context, conts);
    std::vector<LoglikResult> out(conts.size());
    std::vector<bool> done(conts.size(), false);
    for (size_t r = 0; r < reqs.size(); ++r) {
        if (done[r]) continue;
        if (!m_opt.reuse_prefix) {
            std::vector<int> ids = reqs[r].prefix;
            ids.insert(ids.end(), reqs[r].cont.begin(), reqs[r].cont.end() - 1);
            const engine::RowMatrix lg = m_lm.logits(ids);
            LoglikResult res{0.0, true, static_cast<int>(reqs[r].cont.size())};
            add_scores(lg, static_cast<int64_t>(reqs[r].prefix.size()) - 1, reqs[r].cont, 0, res);
            m_stats.tokens_fed += static_cast<int64_t>(ids.size());
            ++m_stats.forwards;
            out[r] = res;
            done[r] = true;
            continue;
        }
        // Every later request with the same prefix shares one run of it.
        std::vector<size_t> group;
        size_t longest = 1;
        for (size_t s = r; s < reqs.size(); ++s)
            if (!done[s] && reqs[s].prefix == reqs[r].prefix) {
                group.push_back(s);
                longest = std::max(longest, reqs[s].cont.size());
            }
        const auto& prefix = reqs[r].prefix;
        auto session = m_lm.start(static_cast<int>(prefix.size() + longest - 1));
        const engine::RowMatrix pl = session->feed(prefix);
        m_stats.tokens_fed += static_cast<int64_t>(prefix.size());
        ++m_stats.forwards;
        for (size_t gi = 0; gi < group.size(); ++gi) {
            const size_t s = group[gi];
            const auto& cont = reqs[s].cont;
            LoglikResult res{0.0, true, static_cast<int>(cont.size())};
            add_scores(pl, pl.rows() - 1, {cont[0]}, 0, res);
            if (cont.size() > 1) {
                // The last continuation of the group may consume the session itself.
                bool later_needs = false;
                for (size_t gj = gi + 1; gj < group.size(); ++gj) later_needs |= reqs[group[gj]].cont.size() > 1;
                std::unique_ptr<engine::LmSession> own = later_needs ? session->fork() : std::move(session);
                const std::vector<int> feed(cont.begin(), cont.end() - 1);
                const engine::RowMatrix cl = own->feed(feed);
                m_stats.tokens_fed += static_cast<int64_t>(feed.size());
                ++m_stats.forwards;
                add_scores(cl, 0, cont, 1, res);
            }
            out[s] = res;
            done[s] = true;
        }
    }
    return out;
}

}  // namespace mixq::eval
