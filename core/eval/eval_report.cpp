// SPDX-License-Identifier: MIT
// Report JSON pieces, task rows with deltas, the text table and the atomic save.
#include "core/eval/eval_report.h"

#include <cstdio>
#include <sstream>

#include "core/common/atomic_file.h"

namespace mixq::eval {
using nlohmann::json;

json mmlu_json(const MmluResult& r) {
    json subjects = json::object();
    for (const auto& [name, a] : r.subjects) subjects[name] = {{"acc", a.acc()}, {"stderr", a.stderr_()}, {"n", a.n}};
    const double n = static_cast<double>(r.overall.n);
    return {{"acc", r.overall.acc()},
            {"stderr", r.overall.stderr_()},
            {"n", r.overall.n},
            {"correct", r.overall.correct},
            {"macro_acc", r.macro_acc()},
            {"seconds", r.seconds},
            {"cpu_seconds", r.cpu_seconds},
            {"seconds_per_100", n > 0 ? 100.0 * r.seconds / n : 0.0},
            {"subjects", subjects}};
}

json piqa_json(const PiqaResult& r) {
    const double n = static_cast<double>(r.acc.n);
    return {{"acc", r.acc.acc()},
            {"acc_stderr", r.acc.stderr_()},
            {"acc_norm", r.acc_norm.acc()},
            {"acc_norm_stderr", r.acc_norm.stderr_()},
            {"n", r.acc.n},
            {"seconds", r.seconds},
            {"cpu_seconds", r.cpu_seconds},
            {"seconds_per_100", n > 0 ? 100.0 * r.seconds / n : 0.0}};
}

json ppl_json(const PerplexityResult& r, int window, double seconds) {
    return {{"ppl", r.ppl}, {"nll_sum", r.nll_sum}, {"tokens", r.tokens}, {"windows", r.windows}, {"window", window},
            {"seconds", seconds}};
}

json speed_json(const SpeedResult& r) {
    return {{"device", r.device},
            {"threads", r.threads},
            {"prompt_tokens", r.prompt_tokens},
            {"decode_tokens", r.decode_tokens},
            {"runs", r.runs},
            {"prefill_tokens_per_s", r.prefill_tokens_per_s},
            {"decode_tokens_per_s", r.decode_tokens_per_s},
            {"weight_bytes_per_token", r.weight_bytes_per_token},
            {"read_bandwidth_gb_s", r.bandwidth_bytes_per_s / 1e9},
            {"decode_bound_tokens_per_s", r.decode_bound_tokens_per_s},
            {"decode_fraction_of_bound",
             r.decode_bound_tokens_per_s > 0 ? r.decode_tokens_per_s / r.decode_bound_tokens_per_s : 0.0},
            {"peak_rss_mb", static_cast<double>(r.peak_rss) / 1048576.0}};
}

json loglik_json(const LoglikStats& s) {
    return {{"requests", s.requests}, {"tokens_fed", s.tokens_fed}, {"truncated", s.truncated},
            {"boundary_mismatches", s.boundary_mismatches}, {"forwards", s.forwards},
            {"padding_tokens", s.padding_tokens}};
}

double agreement(const std::vector<int>& a, const std::vector<int>& b) {
    if (a.empty() || a.size() != b.size()) return 0.0;
    size_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    return static_cast<double>(same) / static_cast<double>(a.size());
}

json task_row(const std::string& task, const json& target, const json* baseline) {
    json row = {{"target", target}, {"baseline", baseline ? *baseline : json(nullptr)}, {"delta", nullptr}};
    if (!baseline) return row;
    json d = json::object();
    auto diff = [&](const char* key) {
        if (target.contains(key) && baseline->contains(key))
            d[key] = target[key].get<double>() - (*baseline)[key].get<double>();
    };
    auto ratio = [&](const char* key, const std::string& name) {
        if (target.contains(key) && baseline->contains(key) && (*baseline)[key].get<double>() != 0.0)
            d[name] = target[key].get<double>() / (*baseline)[key].get<double>();
    };
    if (task == "mmlu") {
        diff("acc");
        diff("macro_acc");
    } else if (task == "piqa") {
        diff("acc");
        diff("acc_norm");
    } else if (task == "ppl") {
        diff("ppl");
        ratio("ppl", "ppl_ratio");
    } else if (task == "speed") {
        ratio("prefill_tokens_per_s", "prefill_ratio");
        ratio("decode_tokens_per_s", "decode_ratio");
        ratio("peak_rss_mb", "peak_rss_ratio");
    }
    row["delta"] = d;
    return row;
}

namespace {
std::string num(const json& j, const char* key, const char* fmt) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, j[key].get<double>());
    return buf;
}
}  // namespace

std::string format_eval_table(const json& report) {
    std::ostringstream out;
    char line[256];
    std::snprintf(line, sizeof line, "%-6s %-16s %12s %12s %10s  %s\n", "task", "metric", "target", "baseline", "delta", "notes");
    out << line;
    const json& tasks = report.value("tasks", json::object());
    auto row = [&](const char* task, const char* metric, const char* fmt, const char* delta_key, const char* delta_fmt,
                   const std::string& note) {
        if (!tasks.contains(task)) return;
        const json& r = tasks[task];
        std::snprintf(line, sizeof line, "%-6s %-16s %12s %12s %10s  %s\n", task, metric, num(r["target"], metric, fmt).c_str(),
                      num(r["baseline"], metric, fmt).c_str(),
                      num(r["delta"], delta_key, delta_fmt).c_str(),
                      note.c_str());
        out << line;
    };
    auto note_n = [&](const char* task, const char* se_key) {
        if (!tasks.contains(task)) return std::string();
        const json& t = tasks[task]["target"];
        return "n=" + std::to_string(t.value("n", int64_t(0))) + ", stderr " + num(t, se_key, "%.4f");
    };
    row("mmlu", "acc", "%.4f", "acc", "%+.4f", note_n("mmlu", "stderr"));
    row("piqa", "acc", "%.4f", "acc", "%+.4f", note_n("piqa", "acc_stderr"));
    row("piqa", "acc_norm", "%.4f", "acc_norm", "%+.4f", note_n("piqa", "acc_norm_stderr"));
    if (tasks.contains("ppl"))
        row("ppl", "ppl", "%.4f", "ppl", "%+.4f", std::to_string(tasks["ppl"]["target"].value("tokens", int64_t(0))) + " tokens");
    if (tasks.contains("speed")) {
        const json& t = tasks["speed"]["target"];
        const std::string dev = t.value("device", std::string("cpu")) + ", " + std::to_string(t.value("threads", 1)) + " threads";
        row("speed", "prefill_tokens_per_s", "%.1f", "prefill_ratio", "x%.3f", dev);
        row("speed", "decode_tokens_per_s", "%.1f", "decode_ratio", "x%.3f", "");
        row("speed", "peak_rss_mb", "%.1f", "peak_rss_ratio", "x%.3f", "");
    }
    if (report.contains("measured_kld") && report["measured_kld"].is_object()) {
        const json& k = report["measured_kld"];
        std::snprintf(line, sizeof line, "\nmeasured KLD %.5f nats/token vs baseline over %lld tokens (top-1 agreement %.2f%%); ",
                      k.value("mean", 0.0), static_cast<long long>(k.value("tokens", int64_t(0))),
                      100.0 * k.value("top1_agreement", 0.0));
        out << line;
        if (k["predicted"].is_number() && k["ratio_to_predicted"].is_number()) {
            std::snprintf(line, sizeof line, "predicted %.5f (measured/predicted x%.2f)%s\n", k["predicted"].get<double>(),
                          k["ratio_to_predicted"].get<double>(),
                          k["ratio_to_predicted"].get<double>() > 1.5 ? ": MORE than 1.5x the prediction" : "");
            out << line;
        } else {
            out << "predicted unknown\n";
        }
    }
    return out.str();
}

void save_eval_report(const json& report, const std::filesystem::path& path) {
    write_file_atomic(path, report.dump(2) + "\n");
}

}  // namespace mixq::eval
