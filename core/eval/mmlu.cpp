// SPDX-License-Identifier: MIT
// MMLU loading (RFC 4180 CSV, validated rows), prompt construction and scoring.
#include "core/eval/mmlu.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
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
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    static const std::vector<std::string> kLetters{" A", " B", " C", " D"};
    const size_t n = questions.size();
    const size_t chunk = static_cast<size_t>(std::max(lm.questions_per_call(), 1));
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        const size_t i1 = std::min(n, i0 + chunk);
        auto report = [&](double f) {  // f: fraction of this chunk done
            const auto at = static_cast<size_t>(static_cast<double>(i0) + f * static_cast<double>(i1 - i0));
            job.report(static_cast<double>(at) / static_cast<double>(n), "mmlu",
                       std::to_string(std::min(at + 1, n)) + "/" + std::to_string(n) + " " + questions[std::min(at, n - 1)].subject);
        };
        report(0.0);
        std::vector<LoglikQuestion> batch;
        for (size_t i = i0; i < i1; ++i) batch.push_back({mmlu_prompt(questions[i]), kLetters});
        const engine::NonFiniteStep step(i1 - i0 == 1 ? "MMLU question " + questions[i0].where
                                                      : "MMLU questions " + questions[i0].where + " to " + questions[i1 - 1].where);
        const auto results = lm.score_many(batch, job.token(), [&](double f) { if (f < 1.0) report(f); });
        for (size_t i = i0; i < i1; ++i) {
            const auto& q = questions[i];
            const auto& res = results[i - i0];
            int best = 0;
            for (int c = 1; c < 4; ++c)
                if (res[static_cast<size_t>(c)].logprob > res[static_cast<size_t>(best)].logprob) best = c;
            r.predictions.push_back(best);
            r.overall.add(best == q.answer);
            r.subjects[q.subject].add(best == q.answer);
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    job.report(1.0, "mmlu");
    return r;
}

}  // namespace mixq::eval
