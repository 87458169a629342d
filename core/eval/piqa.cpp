// SPDX-License-Identifier: MIT
// PIQA loading (JSON lines + label list, validated line by line) and scoring (acc, acc_norm).
#include "core/eval/piqa.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/common/text_file.h"

namespace mixq::eval {
namespace fs = std::filesystem;

namespace {
/// Non-blank lines with their 1-based line numbers (CR before LF removed).
std::vector<std::pair<int, std::string>> lines_of(const std::string& text) {
    std::vector<std::pair<int, std::string>> out;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        out.emplace_back(n, line);
    }
    return out;
}
}  // namespace

int64_t utf8_length(const std::string& s) {
    int64_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::vector<PiqaItem> parse_piqa(const std::string& jsonl, const std::string& jsonl_label, const std::string& labels,
                                 const std::string& labels_label) {
    std::vector<PiqaItem> items;
    for (const auto& [line, text] : lines_of(jsonl)) {
        const std::string where = jsonl_label + ":" + std::to_string(line);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const std::exception& e) {
            std::string msg = e.what();
            if (auto p = msg.find("parse error"); p != std::string::npos) msg = msg.substr(p);
            fail(where, "malformed JSON (" + msg + ")");
        }
        if (!j.is_object()) fail(where, "expected a JSON object with goal, sol1, sol2");
        PiqaItem it;
        for (auto [key, dst] : {std::pair<const char*, std::string*>{"goal", &it.goal}, {"sol1", &it.sol1}, {"sol2", &it.sol2}}) {
            if (!j.contains(key) || !j[key].is_string()) fail(where, std::string("missing string field '") + key + "'");
            *dst = j[key].get<std::string>();
        }
        it.where = where;
        items.push_back(std::move(it));
    }
    const auto label_lines = lines_of(labels);
    for (size_t i = 0; i < label_lines.size() && i < items.size(); ++i) {
        const auto& [line, text] = label_lines[i];
        const auto b = text.find_first_not_of(" \t"), e = text.find_last_not_of(" \t");
        const std::string v = text.substr(b, e - b + 1);
        if (v != "0" && v != "1") fail(labels_label + ":" + std::to_string(line), "label '" + v + "' is not 0 or 1");
        items[i].label = v == "1";
    }
    if (label_lines.size() != items.size())
        fail(labels_label, std::to_string(label_lines.size()) + " labels for " + std::to_string(items.size()) +
                               " items in " + jsonl_label + " (the counts must match)");
    return items;
}

std::vector<PiqaItem> load_piqa(const fs::path& dir, int64_t limit) {
    const fs::path jl = dir / "valid.jsonl", lb = dir / "valid-labels.lst";
    if (!fs::exists(jl)) fail(dir.string(), "no valid.jsonl (expected valid.jsonl and valid-labels.lst)");
    if (!fs::exists(lb)) fail(dir.string(), "no valid-labels.lst (expected valid.jsonl and valid-labels.lst)");
    auto items = parse_piqa(read_text_file(jl), jl.string(), read_text_file(lb), lb.string());
    if (items.empty()) fail(jl.string(), "holds no items (an empty PIQA file would score n: 0, acc 0.0)");
    if (limit >= 0 && static_cast<int64_t>(items.size()) > limit) items.resize(static_cast<size_t>(limit));
    return items;
}

std::string piqa_context(const PiqaItem& it) { return "Question: " + it.goal + "\nAnswer:"; }

PiqaResult run_piqa(LoglikSource& lm, const std::vector<PiqaItem>& items, const JobContext& job) {
    PiqaResult r;
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    const size_t n = items.size();
    const size_t chunk = static_cast<size_t>(std::max(lm.questions_per_call(), 1));
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        const size_t i1 = std::min(n, i0 + chunk);
        auto report = [&](double f) {  // f: fraction of this chunk done
            const auto at = static_cast<size_t>(static_cast<double>(i0) + f * static_cast<double>(i1 - i0));
            job.report(static_cast<double>(at) / static_cast<double>(n), "piqa",
                       std::to_string(std::min(at + 1, n)) + "/" + std::to_string(n));
        };
        report(0.0);
        std::vector<LoglikQuestion> batch;
        for (size_t i = i0; i < i1; ++i)
            batch.push_back({piqa_context(items[i]), {" " + items[i].sol1, " " + items[i].sol2}});
        const engine::NonFiniteStep step(i1 - i0 == 1 ? "PIQA item " + items[i0].where
                                                      : "PIQA items " + items[i0].where + " to " + items[i1 - 1].where);
        const auto results = lm.score_many(batch, job.token(), [&](double f) { if (f < 1.0) report(f); });
        for (size_t i = i0; i < i1; ++i) {
            const auto& it = items[i];
            const auto& res = results[i - i0];
            const int pred = res[1].logprob > res[0].logprob ? 1 : 0;
            const double n0 = res[0].logprob / static_cast<double>(std::max<int64_t>(utf8_length(it.sol1), 1));
            const double n1 = res[1].logprob / static_cast<double>(std::max<int64_t>(utf8_length(it.sol2), 1));
            const int pred_norm = n1 > n0 ? 1 : 0;
            r.predictions.push_back(pred);
            r.predictions_norm.push_back(pred_norm);
            r.acc.add(pred == it.label);
            r.acc_norm.add(pred_norm == it.label);
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    job.report(1.0, "piqa");
    return r;
}

}  // namespace mixq::eval
