// SPDX-License-Identifier: MIT
// run_evaluation: the `mixq eval` job. Evaluates a model folder with the CPU engine or an export folder
// (model.onnx + genai_config.json) with the built-in ONNX runner on MMLU / PIQA / perplexity / speed, then the
// same tasks on the baseline (the unquantized source model, by the engine), and reports both with deltas.
// Models run one after the other (the first is freed before the second loads) so peak memory is per model.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/job.h"
#include "core/plan/plan.h"

namespace mixq::eval {

/// `mixq eval --batch` default (docs/PERFORMANCE.md, "Batched loglikelihood": measured on a 100M int4 export).
inline constexpr int kDefaultEvalBatch = 8;

struct EvalRequest {
    std::filesystem::path target;                 ///< export folder or model folder
    /// With a model folder: evaluate this plan (the engine with its fake-quant weights, in its rotation) instead of
    /// the dense model, beside the dense model as baseline, on the same questions (`mixq eval MODEL --plan`, the
    /// app's "Evaluate current plan"). Both run on the CPU engine; the speed task is not run (fake-quant weights run
    /// at the dense model's speed: export the plan to time it).
    std::optional<plan::Plan> plan;
    std::optional<std::filesystem::path> mmlu;    ///< folder with test/{subject}_test.csv
    std::optional<std::filesystem::path> piqa;    ///< folder with valid.jsonl + valid-labels.lst
    std::optional<std::filesystem::path> ppl_text;
    bool speed = false;
    int64_t limit = -1;                           ///< per task: first N questions / items / windows
    /// Per-task limits; -1 takes `limit`.
    int64_t mmlu_limit = -1, piqa_limit = -1, ppl_limit = -1;
    int64_t limit_for(int64_t task_limit) const { return task_limit >= 0 ? task_limit : limit; }
    std::optional<std::filesystem::path> baseline;  ///< explicit baseline model folder
    bool no_baseline = false;
    std::string device = "auto";                  ///< auto | cpu | cuda
    int ppl_window = 128;
    int speed_prompt = 128, speed_decode = 128, speed_runs = 3;
    bool reuse_prefix = true;                     ///< share the context's KV state across choices
    /// Loglikelihood sequences per forward (MMLU / PIQA) where the model batches natively (exports on the ONNX
    /// runner, padded; model folders and plans on the CPU engine, ragged); 1: one question at a time. The CUDA
    /// decoder scores one question at a time whatever this says.
    int batch = kDefaultEvalBatch;
    /// Padded positions (the CPU engine: positions) per batched forward at most (0: kDefaultBatchTokens).
    int64_t batch_tokens = 0;
};

/// Kind of folder: "export" (model.onnx + genai_config.json), "model" (config.json), or throws.
std::string classify_eval_target(const std::filesystem::path& dir);

/// Runs everything the request asks for; returns the report (schema "mixq.eval/1", see docs in eval_report.h).
nlohmann::json run_evaluation(const EvalRequest& req, const JobContext& job = null_job());

}  // namespace mixq::eval
