// SPDX-License-Identifier: MIT
// The evaluation report (schema "mixq.eval/1"): per-task JSON of each result type, the task rows that pair the
// target with its baseline and their deltas, a plain-text table, and the atomic save.
//
// {"schema": "mixq.eval/1",
//  "target": {"path", "kind": "export"|"model", "backend": "onnx-runner"|"engine", "plan": {...}|null},
//  "baseline": {"path", "from": "--baseline"|"mixq_plan.json", "backend": "engine", "matches_plan_hash": bool (when the
//               plan records the source model's hash)} | null, "baseline_note": "...",
//  "settings": {"limit", "data": {"mmlu", "piqa", "ppl"} (paths or null), "device", "threads", "order", "stderr", "tokenization", "prefix_reuse", "batch", "ppl_window",
//               "speed": {"prompt_tokens", "decode_tokens", "runs"}},
//  "tasks": {"mmlu"|"piqa"|"ppl"|"speed": {"target": {...}, "baseline": {...}|null, "delta": {...}|null}},
//  "loglik": {"target": {...}, "baseline": {...}},
//  "measured_kld": {"mean", "max", "top1_agreement", "tokens", "windows", "predicted" (the plan's, or null),
//                   "ratio_to_predicted" (or null), ...} (with a baseline and a perplexity text)}
// mmlu: acc, stderr, n, correct, macro_acc, seconds, cpu_seconds (process CPU time, all threads), seconds_per_100, subjects {name: {acc, stderr, n}};
// piqa: acc, acc_stderr, acc_norm, acc_norm_stderr, n, seconds, cpu_seconds, seconds_per_100;
// ppl: ppl, nll_sum, tokens, windows, window, seconds; speed: prefill/decode tokens/s (medians), device, threads,
// weight_bytes_per_token, read_bandwidth_gb_s, decode_bound_tokens_per_s, peak_rss_mb.
// Deltas are target − baseline (acc, acc_norm, ppl, plus ppl_ratio), agreement = fraction of items where both
// chose the same answer; speed deltas are ratios target / baseline.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/eval/loglik.h"
#include "core/eval/mmlu.h"
#include "core/eval/perplexity.h"
#include "core/eval/piqa.h"
#include "core/eval/speed_bench.h"

namespace mixq::eval {

nlohmann::json mmlu_json(const MmluResult& r);
nlohmann::json piqa_json(const PiqaResult& r);
nlohmann::json ppl_json(const PerplexityResult& r, int window, double seconds);
nlohmann::json speed_json(const SpeedResult& r);
nlohmann::json loglik_json(const LoglikStats& s);

/// Fraction of positions where a and b agree (0 when empty or of different length).
double agreement(const std::vector<int>& a, const std::vector<int>& b);
/// {"target", "baseline", "delta"} for one task; the delta covers the task's headline metrics.
nlohmann::json task_row(const std::string& task, const nlohmann::json& target, const nlohmann::json* baseline);

/// Human-readable table of the report's task rows.
std::string format_eval_table(const nlohmann::json& report);
/// Writes the report atomically (pretty-printed JSON).
void save_eval_report(const nlohmann::json& report, const std::filesystem::path& path);

}  // namespace mixq::eval
