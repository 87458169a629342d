// SPDX-License-Identifier: MIT
// `mixq score MODEL --out scores.json ...`: per-unit, per-candidate KL sensitivity scores (progress on stderr).
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "app/cli/cli_signals.h"
#include "core/common/error.h"
#include "core/common/memory_bandwidth.h"
#include "core/score/score_backend.h"
#include "core/score/scorer.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::cli {
namespace {

int run_score(const Args& args) {
    args.allow_only({"--out", "--calib", "--samples", "--seq-len", "--candidates", "--method", "--mode", "--memory",
                     "--device", "--rotation", "--offload-dir", "--fast-estimator", "--fisher-samples", "--json",
                     "--quiet", "--weights"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const auto out = args.get("--out");
    if (!out) usage_fail("missing --out scores.json");
    check_output_file(*out);  // before minutes of scoring
    const std::string method = args.get_or("--method", "rtn");
    if (method != "rtn" && method != "kquant") usage_fail("--method must be rtn or kquant");
    const std::string device = args.get_or("--device", "auto");
    if (device != "auto" && device != "cpu" && device != "cuda") usage_fail("--device must be auto, cpu or cuda");
    score::ScoreOptions opt;
    opt.candidates = score::parse_candidates(args.get_or("--candidates", "int4-g32,int4-g128,int8-g128"),
                                             method == "kquant" ? quant::Method::KQuant : quant::Method::RTN);
    opt.mode = args.get_or("--mode", "exact");
    if (opt.mode != "exact" && opt.mode != "fast") usage_fail("--mode must be exact or fast");
    opt.fast_estimator = args.get_or("--fast-estimator", "fisher");
    if (opt.fast_estimator != "fisher" && opt.fast_estimator != "shortcut") usage_fail("--fast-estimator must be fisher or shortcut");
    opt.fisher_samples = static_cast<int>(args.get_int("--fisher-samples", opt.fisher_samples, 1, 64));
    opt.memory = score::parse_memory_mode(args.get_or("--memory", "auto"));
    opt.offload_dir = args.get_or("--offload-dir", "");
    opt.rotation = args.get_or("--rotation", "none");
    if (opt.rotation != "none" && opt.rotation != "hadamard") usage_fail("--rotation must be none or hadamard");
    const std::string weights = args.get_or("--weights", "stored");
    if (weights != "stored" && weights != "fp32") usage_fail("--weights must be stored or fp32, not '" + weights + "'");
    opt.weights_in_place = weights == "stored";  // CPU: BF16 / F16 layers read in place from the mapped file
    const int samples = static_cast<int>(args.get_int("--samples", 32, 1, 4096));
    const int seq_len = static_cast<int>(args.get_int("--seq-len", 128, 2, 1 << 24));
    if (samples < 1 || samples > 4096 || seq_len < 2 || seq_len > model->config().max_position_embeddings)
        usage_fail("--samples must be 1..4096 and --seq-len 2..max_position_embeddings (" +
                     std::to_string(model->config().max_position_embeddings) + ")");
    auto tok = tok::Tokenizer::from_file(model->tokenizer_path());
    const auto calib = score::load_calibration(*tok, args.get_or("--calib", ""), samples, seq_len);
    for (const auto& seq : calib.sequences)
        tok::check_ids_in_model_vocab(*tok, seq, model->config().vocab_size, model->tokenizer_path().string());
    const bool quiet = args.has("--quiet") || args.has("--json");
    auto job = make_cli_job(args.has("--quiet"));
    const auto table = score::score_model_on(device, model, calib, opt, job);
    score::save_score_table(table, *out);
    const double peak_mb = peak_rss_bytes() / 1048576.0;
    if (args.has("--json")) {
        nlohmann::json j = nlohmann::json::parse(score::score_table_to_json(table));
        j["out"] = *out;
        j["peak_rss_mb"] = peak_mb;
        std::cout << j.dump() << "\n";
    } else if (!quiet) {
        std::cout << "scored " << table.units.size() << " units x " << table.candidates.size() << " candidates in "
                  << table.seconds << " s (" << table.memory_mode << ", peak RSS " << peak_mb << " MiB) -> " << *out
                  << "\n";
    }
    return 0;
}

CommandRegistrar reg({"score",
                      "mixq score MODEL --out scores.json [--calib FILE] [--samples N] [--seq-len T] "
                      "[--candidates int4-g32,int4-g128,int8-g128] [--method rtn|kquant] [--mode exact|fast] "
                      "[--fast-estimator fisher|shortcut] [--fisher-samples 4] "
                      "[--memory auto|full|low_memory|offload|multi_gpu] [--offload-dir DIR] [--device auto|cpu|cuda] "
                      "[--rotation none|hadamard] [--weights stored|fp32] [--json] [--quiet]",
                      "Scores every unit's quantization sensitivity (KL divergence vs the unquantized model). "
                      "--weights: the CPU engine reads BF16 / F16 layers in place (stored, the default) or as "
                      "fp32 copies.",
                      {"--json", "--quiet"}, run_score});

}  // namespace
}  // namespace mixq::cli
