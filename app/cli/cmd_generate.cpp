// SPDX-License-Identifier: MIT
// `mixq generate MODEL (--prompt STR | --ids 1,2,3) -n N [--json]`: greedy decoding with the KV cache.
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::cli {
namespace {

int run_generate(const Args& args) {
    args.allow_only({"--prompt", "--ids", "-n", "--n", "--json", "--stop-at-eos"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const long long n = args.has("-n") ? args.get_int("-n", 32, 0, 100000) : args.get_int("--n", 32, 0, 100000);
    if (n < 0 || n > 100000) usage_fail("-n must be between 0 and 100000");
    std::unique_ptr<tok::Tokenizer> tok;
    std::vector<int> ids;
    if (auto p = args.get("--prompt")) {
        tok = tok::Tokenizer::from_file(model->tokenizer_path());
        ids = tok->encode(*p, /*add_special_tokens=*/true);  // BOS where the tokenizer's post-processor adds one
        tok::check_ids_in_model_vocab(*tok, ids, model->config().vocab_size, model->tokenizer_path().string());
    } else if (auto s = args.get("--ids")) {
        ids = parse_id_list(*s);
        check_ids_in_vocab(ids, model->config().vocab_size);
    } else {
        usage_fail("give --prompt STR or --ids 1,2,3");
    }
    if (ids.empty()) usage_fail("the prompt encodes to no tokens");
    engine::EngineOptions eo;
    eo.weights_as_stored = true;  // BF16 / F16 weights computed in place from the mapped file
    engine::Transformer tf(model, eo);
    auto cache = tf.make_cache(static_cast<int>(ids.size() + n + 1));
    std::vector<int> out;
    engine::RowMatrix logits = tf.forward(ids, &cache);
    const auto& eos = model->config().eos_token_ids;
    for (long long i = 0; i < n; ++i) {
        Eigen::Index next;
        logits.row(logits.rows() - 1).maxCoeff(&next);
        out.push_back(static_cast<int>(next));
        if (args.has("--stop-at-eos") && std::find(eos.begin(), eos.end(), next) != eos.end()) break;
        if (i + 1 < n) logits = tf.forward({static_cast<int>(next)}, &cache);
    }
    if (args.has("--json")) {
        nlohmann::json j = {{"ids", out}};
        if (tok) j["text"] = tok->decode(out);
        std::cout << j.dump() << "\n";
    } else {
        if (!tok) tok = tok::Tokenizer::from_file(model->tokenizer_path());
        std::cout << tok->decode(ids, true) << tok->decode(out, true) << "\n";
    }
    return 0;
}

CommandRegistrar reg({"generate", "mixq generate MODEL (--prompt STR | --ids 1,2,3) -n N [--stop-at-eos] [--json]",
                      "Greedy generation with the CPU engine and a KV cache.", {"--json", "--stop-at-eos"},
                      run_generate});

}  // namespace
}  // namespace mixq::cli
