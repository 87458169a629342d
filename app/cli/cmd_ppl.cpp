// SPDX-License-Identifier: MIT
// `mixq ppl MODEL --text FILE [--window N] [--max-tokens N] [--plan plan.json] [--json]`: windowed perplexity of a
// text file, optionally with a plan's fake-quant weights.
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "app/cli/cli_signals.h"
#include "core/engine/transformer.h"
#include "core/common/input_file.h"
#include "core/eval/perplexity.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::cli {
namespace {

int run_ppl(const Args& args) {
    args.allow_only({"--text", "--window", "--max-tokens", "--plan", "--json", "--quiet"});
    const auto text_path = args.get("--text");
    if (!text_path) usage_fail("missing --text FILE");
    const int window = static_cast<int>(args.get_int("--window", 128, 2, 1 << 20));
    const long long max_tokens = args.get_int("--max-tokens", eval::kDefaultPplMaxTokens, 2, INT64_MAX);
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const std::string text = mixq::read_input_file(*text_path, mixq::kMaxTextBytes);
    auto tok = tok::Tokenizer::from_file(model->tokenizer_path());
    const auto stream = tok->encode(text);
    tok::check_ids_in_model_vocab(*tok, stream, model->config().vocab_size, model->tokenizer_path().string());
    if (static_cast<long long>(stream.size()) <= window)
        fail(*text_path, "text has " + std::to_string(stream.size()) + " tokens, need more than the window (" +
                             std::to_string(window) + ")");
    // With --plan: the plan's fake-quant weights, in the rotation its scores were computed with.
    const auto plan_file = args.get("--plan");
    const plan::Plan plan = plan_file ? plan::load_plan(*plan_file) : plan::Plan{};
    engine::Transformer tf = plan::plan_engine(model, plan, plan_file ? *plan_file : "plan");
    if (plan_file) plan::apply_plan_fake_quant(tf, *model, plan, 0, *plan_file);
    auto job = make_cli_job(args.has("--quiet") || args.has("--json"));
    const auto r = eval::windowed_perplexity([&](const std::vector<int>& ids) { return tf.forward(ids); }, stream, window,
                                             max_tokens, job, model->dir().string());
    if (args.has("--json")) {
        nlohmann::json j = {{"ppl", r.ppl}, {"tokens", r.tokens}, {"windows", r.windows}, {"window", window},
                            {"nll_sum", r.nll_sum}};
        std::cout << j.dump() << "\n";
    } else {
        std::cout << std::setprecision(6) << "perplexity " << r.ppl << " over " << r.tokens << " tokens (" << r.windows
                  << " windows of " << window << ")\n";
    }
    return 0;
}

CommandRegistrar reg({"ppl", "mixq ppl MODEL --text FILE [--window N] [--max-tokens N] [--plan plan.json] [--json]",
                      "Windowed perplexity of a text file (non-overlapping windows, fresh sequence each); --plan uses the "
                      "plan's fake-quant weights.",
                      {"--json", "--quiet"}, run_ppl});

}  // namespace
}  // namespace mixq::cli
