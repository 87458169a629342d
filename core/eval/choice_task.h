// SPDX-License-Identifier: MIT
// The loop every multiple-choice task (MMLU, PIQA) runs over a LoglikSource: items handed to score_many in chunks
// of questions_per_call(), progress per chunk and within it, each chunk named for the non-finite checks, and the
// task's wall-clock and CPU time. The task supplies its questions and reads the results.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/eval/loglik.h"

namespace mixq::eval {

struct ChoiceTask {
    std::string stage;  ///< progress stage ("mmlu", "piqa")
    std::string noun;   ///< one item in messages ("MMLU question"; a chunk is "<noun>s <first> to <last>")
    size_t n = 0;
    std::function<LoglikQuestion(size_t)> question;
    std::function<std::string(size_t)> where;   ///< an item's place in its data file
    std::function<std::string(size_t)> detail;  ///< appended to "k/n" in progress ("" for none)
    std::function<void(size_t, const std::vector<LoglikResult>&)> on_result;  ///< item i's continuations, in order
};

struct TaskTime {
    double seconds = 0, cpu_seconds = 0;
};

/// Scores every item of `t` on `lm`; reports under t.stage, ending with 1.0.
TaskTime run_choice_task(LoglikSource& lm, const ChoiceTask& t, const JobContext& job);

}  // namespace mixq::eval
