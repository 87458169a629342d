// SPDX-License-Identifier: MIT
// PIQA loading (JSON lines + label list, validated line by line) and scoring (acc, acc_norm).
#include "core/eval/piqa.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/eval/choice_task.h"
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
    ChoiceTask t;
    t.stage = "piqa";
    t.noun = "PIQA item";
    t.n = items.size();
    t.question = [&](size_t i) {
        return LoglikQuestion{piqa_context(items[i]), {" " + items[i].sol1, " " + items[i].sol2}};
    };
    t.where = [&](size_t i) { return items[i].where; };
    t.detail = [](size_t) { return std::string(); };
    t.on_result = [&](size_t i, const std::vector<LoglikResult>& res) {
        const auto& it = items[i];
        const int pred = res[1].logprob > res[0].logprob ? 1 : 0;
        const double n0 = res[0].logprob / static_cast<double>(std::max<int64_t>(utf8_length(it.sol1), 1));
        const double n1 = res[1].logprob / static_cast<double>(std::max<int64_t>(utf8_length(it.sol2), 1));
        const int pred_norm = n1 > n0 ? 1 : 0;
        r.predictions.push_back(pred);
        r.predictions_norm.push_back(pred_norm);
        r.acc.add(pred == it.label);
        r.acc_norm.add(pred_norm == it.label);
    };
    const TaskTime time = run_choice_task(lm, t, job);
    r.seconds = time.seconds;
    r.cpu_seconds = time.cpu_seconds;
    return r;
}

}  // namespace mixq::eval
