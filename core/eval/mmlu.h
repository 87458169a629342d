// SPDX-License-Identifier: MIT
// MMLU, 0-shot, as lm-evaluation-harness's "mmlu" task: data in the standard layout (test/{subject}_test.csv,
// rows question,A,B,C,D,answer, no header), prompt "The following are multiple choice questions (with answers)
// about {subject with spaces}.\n\n{question.strip()}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:", and the answer
// is the letter whose " A" / " B" / " C" / " D" continuation has the highest log-likelihood (first on ties).
// Order (and so --limit): subjects alphabetically by file name, then rows in file order.
#pragma once
#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/eval/loglik.h"
#include "core/eval/task_score.h"

namespace mixq::eval {

struct MmluQuestion {
    std::string subject;  ///< file stem without "_test", e.g. "high_school_physics"
    std::string question;
    std::array<std::string, 4> choices;
    int answer = 0;       ///< 0..3 (A..D)
    std::string where;    ///< "file:line"
};

/// Reads `dir`/test/*_test.csv (or `dir`/*_test.csv when `dir` is the test folder). limit < 0: all questions;
/// otherwise the first `limit` in task order. Errors name file:line (wrong field count, answer not A-D, CSV).
std::vector<MmluQuestion> load_mmlu(const std::filesystem::path& dir, int64_t limit = -1);
/// Parses one subject file's text (tests).
std::vector<MmluQuestion> parse_mmlu_csv(const std::string& text, const std::string& subject, const std::string& label);

std::string mmlu_prompt(const MmluQuestion& q);

struct MmluResult {
    Accuracy overall;                         ///< micro average over all questions
    std::map<std::string, Accuracy> subjects;
    std::vector<int> predictions;             ///< chosen letter index per question
    double seconds = 0.0;
    double cpu_seconds = 0.0;  ///< process CPU time over the task, all threads (std::clock): load-independent cost
    /// Unweighted mean of the subject accuracies.
    double macro_acc() const;
};

MmluResult run_mmlu(LoglikSource& lm, const std::vector<MmluQuestion>& questions, const JobContext& job = null_job());

}  // namespace mixq::eval
