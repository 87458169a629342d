// SPDX-License-Identifier: MIT
// MMLU loading (RFC 4180 CSV, validated rows), prompt construction and scoring.
#include "core/eval/mmlu.h"

#include <algorithm>
#include <cctype>

#include "core/common/error.h"
#include "core/eval/choice_task.h"
#include "core/eval/csv.h"
#include "core/common/text_file.h"

namespace mixq::eval {
namespace fs = std::filesystem;

namespace {
std::string strip(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}
}  // namespace

std::vector<MmluQuestion> parse_mmlu_csv(const std::string& text, const std::string& subject, const std::string& label) {
    std::vector<MmluQuestion> out;
    for (const auto& rec : parse_csv(text, label)) {
        const std::string where = label + ":" + std::to_string(rec.line);
        if (rec.fields.size() != 6)
            fail(where, "expected 6 fields (question,A,B,C,D,answer), got " + std::to_string(rec.fields.size()));
        const std::string ans = strip(rec.fields[5]);
        if (ans.size() != 1 || ans[0] < 'A' || ans[0] > 'D') fail(where, "answer '" + rec.fields[5] + "' is not A, B, C or D");
        MmluQuestion q;
        q.subject = subject;
        q.question = rec.fields[0];
        for (int c = 0; c < 4; ++c) q.choices[static_cast<size_t>(c)] = rec.fields[static_cast<size_t>(c + 1)];
        q.answer = ans[0] - 'A';
        q.where = where;
        out.push_back(std::move(q));
    }
    return out;
}

std::vector<MmluQuestion> load_mmlu(const fs::path& dir, int64_t limit) {
    fs::path folder = fs::is_directory(dir / "test") ? dir / "test" : dir;
    if (!fs::is_directory(folder)) fail(dir.string(), "MMLU folder does not exist");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(folder)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name.size() > 9 && name.compare(name.size() - 9, 9, "_test.csv") == 0)
            files.push_back(e.path());
    }
    if (files.empty()) fail(dir.string(), "no MMLU files (expected test/<subject>_test.csv)");
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return a.filename().string() < b.filename().string();
    });
    std::vector<MmluQuestion> out;
    for (const auto& f : files) {
        if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) break;
        const std::string name = f.filename().string();
        auto qs = parse_mmlu_csv(read_text_file(f), name.substr(0, name.size() - 9), f.string());
        // An empty subject would score n: 0, acc 0.0 and pull the macro average down: refused.
        if (qs.empty()) fail(f.string(), "holds no questions (an empty MMLU subject file)");
        for (auto& q : qs) {
            if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) break;
            out.push_back(std::move(q));
        }
    }
    return out;
}

std::string mmlu_prompt(const MmluQuestion& q) {
    std::string subject = q.subject;
    std::replace(subject.begin(), subject.end(), '_', ' ');
    return "The following are multiple choice questions (with answers) about " + subject + ".\n\n" + strip(q.question) +
           "\nA. " + q.choices[0] + "\nB. " + q.choices[1] + "\nC. " + q.choices[2] + "\nD. " + q.choices[3] + "\nAnswer:";
}

double MmluResult::macro_acc() const {
    if (subjects.empty()) return 0.0;
    double s = 0.0;
    for (const auto& [name, a] : subjects) s += a.acc();
    return s / static_cast<double>(subjects.size());
}

MmluResult run_mmlu(LoglikSource& lm, const std::vector<MmluQuestion>& questions, const JobContext& job) {
    MmluResult r;
    static const std::vector<std::string> kLetters{" A", " B", " C", " D"};
    ChoiceTask t;
    t.stage = "mmlu";
    t.noun = "MMLU question";
    t.n = questions.size();
    t.question = [&](size_t i) { return LoglikQuestion{mmlu_prompt(questions[i]), kLetters}; };
    t.where = [&](size_t i) { return questions[i].where; };
    t.detail = [&](size_t i) { return " " + questions[i].subject; };
    t.on_result = [&](size_t i, const std::vector<LoglikResult>& res) {
        const auto& q = questions[i];
        int best = 0;
        for (int c = 1; c < 4; ++c)
            if (res[static_cast<size_t>(c)].logprob > res[static_cast<size_t>(best)].logprob) best = c;
        r.predictions.push_back(best);
        r.overall.add(best == q.answer);
        r.subjects[q.subject].add(best == q.answer);
    };
    const TaskTime time = run_choice_task(lm, t, job);
    r.seconds = time.seconds;
    r.cpu_seconds = time.cpu_seconds;
    return r;
}

}  // namespace mixq::eval
