// SPDX-License-Identifier: MIT
// PIQA as lm-evaluation-harness's "piqa" task: valid.jsonl ({goal, sol1, sol2} per line) + valid-labels.lst
// (0/1 per line, counts must match), context "Question: {goal}\nAnswer:", continuations " {sol1}" / " {sol2}".
// acc compares summed log-likelihoods; acc_norm divides each by the length of the choice text in characters
// (Unicode code points of sol1/sol2, without the leading space, as the harness's len(choice)). Order (and so
// --limit): file order.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/eval/loglik.h"
#include "core/eval/task_score.h"

namespace mixq::eval {

struct PiqaItem {
    std::string goal, sol1, sol2;
    int label = 0;
    std::string where;  ///< "valid.jsonl:line"
};

/// Reads `dir`/valid.jsonl and `dir`/valid-labels.lst. Both files are checked in full (the label count must
/// equal the item count); then the first `limit` items are kept (limit < 0: all).
std::vector<PiqaItem> load_piqa(const std::filesystem::path& dir, int64_t limit = -1);
/// Same from file texts (tests); labels name the files in errors.
std::vector<PiqaItem> parse_piqa(const std::string& jsonl, const std::string& jsonl_label, const std::string& labels,
                                 const std::string& labels_label);

std::string piqa_context(const PiqaItem& it);
/// Characters (Unicode code points) of UTF-8 text.
int64_t utf8_length(const std::string& s);

struct PiqaResult {
    Accuracy acc, acc_norm;
    std::vector<int> predictions;       ///< by summed log-likelihood
    std::vector<int> predictions_norm;  ///< by length-normalized log-likelihood
    double seconds = 0.0;
    double cpu_seconds = 0.0;  ///< process CPU time over the task, all threads (std::clock): load-independent cost
};

PiqaResult run_piqa(LoglikSource& lm, const std::vector<PiqaItem>& items, const JobContext& job = null_job());

}  // namespace mixq::eval
