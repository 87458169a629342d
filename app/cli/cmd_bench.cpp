// SPDX-License-Identifier: MIT
// `mixq bench MODEL [--prompt N] [--gen N] [--runs N] [--weights stored|fp32] [--json]`: CPU engine prefill/decode
// tokens/s and the DRAM-bandwidth bound for decode; 16-bit weights in place (default) or widened to fp32 copies.
#include <omp.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "app/cli/cli_signals.h"
#include "core/engine/transformer.h"
#include "core/eval/eval_report.h"
#include "core/eval/engine_model.h"
#include "core/eval/speed_bench.h"

namespace mixq::cli {
namespace {

int run_bench(const Args& args) {
    args.allow_only({"--prompt", "--gen", "--runs", "--json", "--weights"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const int prompt = static_cast<int>(args.get_int("--prompt", 128, 1, 1 << 20));
    const int gen = static_cast<int>(args.get_int("--gen", 64, 0, 1 << 20));
    const int runs = static_cast<int>(args.get_int("--runs", 3, 1, 10000));
    if (prompt < 1 || gen < 0 || runs < 1) usage_fail("--prompt >= 1, --gen >= 0, --runs >= 1");
    engine::EngineOptions eo;
    const std::string weights = args.get_or("--weights", "stored");
    if (weights != "stored" && weights != "fp32") usage_fail("--weights must be stored or fp32, not '" + weights + "'");
    eo.weights_as_stored = weights == "stored";  // BF16 / F16 weights computed in place from the mapped file
    eval::EngineModel lm(std::make_shared<engine::Transformer>(model, eo));
    eval::LanguageModelSession s(lm, prompt + gen + 1, "cpu", omp_get_max_threads());
    const auto r = eval::run_speed_bench(s, prompt, gen, runs, model->config().vocab_size, make_cli_job(true));
    nlohmann::json j = eval::speed_json(r);
    j["model"] = model->dir().string();
    j["parameters"] = model->parameter_count();
    if (args.has("--json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << std::fixed << std::setprecision(1) << "model " << model->dir().string() << " ("
              << model->parameter_count() / 1e6 << "M params), " << r.threads << " threads\n"
              << "prefill: " << r.prefill_tokens_per_s << " tokens/s (" << prompt << "-token prompt, median of " << runs
              << ")\n"
              << "decode:  " << r.decode_tokens_per_s << " tokens/s (" << gen << " tokens)\n"
              << "bound:   " << r.decode_bound_tokens_per_s << " tokens/s = " << r.bandwidth_bytes_per_s / 1e9
              << " GB/s read bandwidth / " << r.weight_bytes_per_token / 1e6 << " MB of weights per token (" << weights << ", "
              << std::setprecision(0) << 100.0 * j["decode_fraction_of_bound"].get<double>() << "% of bound)\n";
    return 0;
}

CommandRegistrar reg({"bench", "mixq bench MODEL [--prompt N] [--gen N] [--runs N] [--weights stored|fp32] [--json]",
                      "CPU engine prefill and decode tokens/s with the DRAM-bandwidth bound for decode; BF16/F16 "
                      "weights computed in place from the file (stored, the default) or from fp32 copies.", {"--json"},
                      run_bench});

}  // namespace
}  // namespace mixq::cli
