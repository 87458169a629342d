// SPDX-License-Identifier: MIT
// One evaluation pass for the batched-loglikelihood tests (ONNX runner and CPU engine): MMLU and PIQA through a
// LoglikScorer with the given options (their decisions), then every continuation's loglikelihood from one
// score_many call (the raw numbers), with the scorer's stats and the tasks' wall-clock time.
#pragma once
#include <chrono>
#include <vector>

#include "core/eval/loglik.h"
#include "core/eval/mmlu.h"
#include "core/eval/piqa.h"

namespace mixq_test {

struct TaskRun {
    mixq::eval::MmluResult mmlu;
    mixq::eval::PiqaResult piqa;
    std::vector<double> lp;  ///< every continuation's log p: MMLU questions' four, then PIQA items' two
    mixq::eval::LoglikStats stats;
    double secs = 0;  ///< MMLU + PIQA
};

inline TaskRun run_tasks(mixq::engine::LanguageModel& lm, const mixq::tok::Tokenizer& tok,
                         const mixq::eval::LoglikOptions& opt, const std::vector<mixq::eval::MmluQuestion>& qs,
                         const std::vector<mixq::eval::PiqaItem>& items) {
    using namespace mixq::eval;
    LoglikScorer sc(lm, tok, opt);
    TaskRun r;
    const auto t0 = std::chrono::steady_clock::now();
    r.mmlu = run_mmlu(sc, qs);
    r.piqa = run_piqa(sc, items);
    r.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The raw numbers, in one call (the tasks' own chunks are checked by the decisions).
    std::vector<LoglikQuestion> all;
    for (const auto& q : qs) all.push_back({mmlu_prompt(q), {" A", " B", " C", " D"}});
    for (const auto& it : items) all.push_back({piqa_context(it), {" " + it.sol1, " " + it.sol2}});
    for (const auto& res : sc.score_many(all, mixq::CancelToken()))
        for (const auto& x : res) r.lp.push_back(x.logprob);
    r.stats = sc.stats();
    return r;
}

}  // namespace mixq_test
