// SPDX-License-Identifier: MIT
// `mixq eval (EXPORT_DIR | MODEL) [--mmlu DIR] [--piqa DIR] [--ppl FILE|builtin] [--speed] [--limit N] [--mmlu-limit N]
// [--piqa-limit N] [--ppl-limit N] [--baseline MODEL_DIR] [--plan plan.json]
// [--device auto|cpu|cuda] [--out results.json] [--json] [--batch N] [--batch-tokens N]`: accuracy, perplexity and speed of an export (built-in
// ONNX runner) or a model folder (CPU engine), next to the unquantized baseline. With no task given it evaluates the
// MMLU and PIQA data and the held-out text shipped with MixQ (`builtin` names them explicitly: `--mmlu builtin`,
// `--ppl builtin`). A model folder with --plan evaluates the plan (the same call as the app's "Evaluate current plan").
#include <iostream>
#include <utility>

#include "app/cli/cli_command.h"
#include "app/cli/cli_signals.h"
#include "core/common/error.h"
#include "core/eval/eval_report.h"
#include "core/eval/evaluator.h"
#include "core/io/data_dir.h"
#include "core/plan/plan_json.h"

namespace mixq::cli {
namespace {

int run_eval(const Args& args) {
    args.allow_only({"--mmlu", "--piqa", "--ppl", "--speed", "--limit", "--baseline", "--no-baseline", "--device",
                     "--out", "--json", "--quiet", "--ppl-window", "--runs", "--no-prefix-reuse", "--mmlu-limit",
                     "--piqa-limit", "--ppl-limit", "--plan", "--batch", "--batch-tokens"});
    eval::EvalRequest req;
    req.target = args.positional_at(0, "EXPORT_DIR or MODEL folder");
    if (args.positional().size() > 1) usage_fail("unexpected argument '" + args.positional()[1] + "'");
    if (auto v = args.get("--mmlu")) req.mmlu = *v == "builtin" ? io::builtin_mmlu_dir() : std::filesystem::path(*v);
    if (auto v = args.get("--piqa")) req.piqa = *v == "builtin" ? io::builtin_piqa_dir() : std::filesystem::path(*v);
    if (auto v = args.get("--ppl")) req.ppl_text = *v == "builtin" ? io::builtin_heldout_text() : std::filesystem::path(*v);
    if (!req.mmlu && !req.piqa && !req.ppl_text && !args.has("--speed")) {  // the shipped data is the default
        req.mmlu = io::builtin_mmlu_dir();
        req.piqa = io::builtin_piqa_dir();
        req.ppl_text = io::builtin_heldout_text();  // perplexity, and the measured KLD of a plan or an export
    }
    if (auto v = args.get("--baseline")) req.baseline = *v;
    if (auto v = args.get("--plan")) req.plan = plan::load_plan(*v);
    req.no_baseline = args.has("--no-baseline");
    if (req.no_baseline && req.baseline) usage_fail("--baseline and --no-baseline exclude each other");
    req.speed = args.has("--speed");
    req.limit = args.get_int("--limit", -1, 1, 1000000000);
    if (args.has("--limit") && req.limit < 1) usage_fail("--limit needs a positive integer");
    for (auto [flag, field] : {std::pair{"--mmlu-limit", &req.mmlu_limit}, std::pair{"--piqa-limit", &req.piqa_limit},
                               std::pair{"--ppl-limit", &req.ppl_limit}}) {
        *field = args.get_int(flag, -1, 1, 1000000000);
        if (args.has(flag) && *field < 1) usage_fail(std::string(flag) + " needs a positive integer");
    }
    req.device = args.get_or("--device", "auto");
    req.ppl_window = static_cast<int>(args.get_int("--ppl-window", 128, 2, 1 << 20));
    req.speed_runs = static_cast<int>(args.get_int("--runs", 3, 1, 10000));
    req.reuse_prefix = !args.has("--no-prefix-reuse");
    req.batch = static_cast<int>(args.get_int("--batch", eval::kDefaultEvalBatch, 1, 4096));
    req.batch_tokens = args.get_int("--batch-tokens", 0, 1, 1 << 24);
    const auto out = args.get("--out");
    if (out) check_output_file(*out);
    const bool json_out = args.has("--json");

    const auto report = eval::run_evaluation(req, make_cli_job(args.has("--quiet") || json_out));
    if (out) eval::save_eval_report(report, *out);
    if (json_out) {
        std::cout << report.dump(2) << "\n";
        return 0;
    }
    std::cout << "target   " << report["target"]["path"].get<std::string>() << " ("
              << report["target"]["backend"].get<std::string>() << ")\n";
    if (report["baseline"].is_object())
        std::cout << "baseline " << report["baseline"]["path"].get<std::string>() << " (engine)\n";
    else if (report.contains("baseline_note"))
        std::cout << "baseline none: " << report["baseline_note"].get<std::string>() << "\n";
    const auto& plan = report["target"]["plan"];
    if (plan.is_object() && plan.contains("average_bits") && report["target"].value("kind", std::string()) == "plan")
        std::cout << "plan     " << plan["average_bits"].get<double>() << " average bits (fake-quant weights on the engine, "
                  << plan.value("scores_mode", std::string("exact")) << " scores)\n";
    else if (plan.is_object() && plan.contains("average_bits"))
        std::cout << "plan     " << plan["average_bits"].get<double>() << " average bits, "
                  << plan.value("onnx_file_bytes", uint64_t(0)) / 1048576.0 << " MiB on disk\n";
    std::cout << "\n" << eval::format_eval_table(report);
    if (out) std::cout << "\nwrote " << *out << "\n";
    return 0;
}

CommandRegistrar reg({"eval",
                      "mixq eval (EXPORT_DIR | MODEL) [--mmlu DIR|builtin] [--piqa DIR|builtin] [--ppl FILE|builtin] [--speed] [--limit N] "
                      "[--mmlu-limit N] [--piqa-limit N] [--ppl-limit N] [--plan plan.json] [--baseline MODEL_DIR | --no-baseline] [--device auto|cpu|cuda] [--out results.json] [--json] "
                      "[--ppl-window N] [--runs N] [--no-prefix-reuse] [--batch N] [--batch-tokens N]",
                      "MMLU / PIQA accuracy, perplexity and speed of an export (built-in ONNX runner) or a model "
                      "(CPU engine; with --plan, the plan's fake-quant weights beside the dense model on the same questions), with the "
                      "unquantized baseline and deltas. Without --mmlu/--piqa/--ppl/--speed it runs the MMLU-Redux sample and "
                      "PIQA validation data and the held-out text shipped with MixQ (perplexity and, beside a plan or export, its measured KLD). --batch N: loglikelihood sequences per forward on an export or the CPU engine (default " +
                          std::to_string(eval::kDefaultEvalBatch) + "; 1: one question at a time), at most --batch-tokens padded positions each (the engine pads none; default " +
                          std::to_string(eval::kDefaultBatchTokens) + ").",
                      {"--speed", "--no-baseline", "--json", "--quiet", "--no-prefix-reuse"},
                      run_eval});

}  // namespace
}  // namespace mixq::cli
