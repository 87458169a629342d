// SPDX-License-Identifier: MIT
// run_choice_task: the chunked scoring loop shared by MMLU and PIQA.
#include "core/eval/choice_task.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/engine/finite_check.h"

namespace mixq::eval {

TaskTime run_choice_task(LoglikSource& lm, const ChoiceTask& t, const JobContext& job) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    const size_t n = t.n;
    const size_t chunk = static_cast<size_t>(std::max(lm.questions_per_call(), 1));
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        const size_t i1 = std::min(n, i0 + chunk);
        auto report = [&](double f) {  // f: fraction of this chunk done
            const auto at = static_cast<size_t>(static_cast<double>(i0) + f * static_cast<double>(i1 - i0));
            job.report(static_cast<double>(at) / static_cast<double>(n), t.stage,
                       std::to_string(std::min(at + 1, n)) + "/" + std::to_string(n) + t.detail(std::min(at, n - 1)));
        };
        report(0.0);
        std::vector<LoglikQuestion> batch;
        for (size_t i = i0; i < i1; ++i) batch.push_back(t.question(i));
        const engine::NonFiniteStep step(i1 - i0 == 1 ? t.noun + " " + t.where(i0)
                                                      : t.noun + "s " + t.where(i0) + " to " + t.where(i1 - 1));
        const auto results = lm.score_many(batch, job.token(), [&](double f) { if (f < 1.0) report(f); });
        for (size_t i = i0; i < i1; ++i) t.on_result(i, results[i - i0]);
    }
    TaskTime time;
    time.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    time.cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    job.report(1.0, t.stage);
    return time;
}

}  // namespace mixq::eval
