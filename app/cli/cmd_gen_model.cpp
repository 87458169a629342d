// SPDX-License-Identifier: MIT
// `mixq gen-model OUT_DIR [--preset tiny|100m|1b|8b] [--hidden H ...] [--json]`: writes a synthetic model folder.
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/io/synthetic_model.h"

namespace mixq::cli {
namespace {

int run_gen_model(const Args& args) {
    args.allow_only({"--preset", "--hidden", "--intermediate", "--layers", "--heads", "--kv-heads", "--vocab", "--seed",
                     "--dtype", "--untied", "--packed-qkv", "--fused-gate-up", "--shards", "--model-type", "--json"});
    const std::string out = args.positional_at(0, "output folder");
    auto spec = io::SyntheticSpec::preset(args.get_or("--preset", "tiny"));
    auto& c = spec.config;
    c.hidden_size = static_cast<int>(args.get_int("--hidden", c.hidden_size, 1, 1 << 20));
    c.intermediate_size = static_cast<int>(args.get_int("--intermediate", c.intermediate_size, 1, 1 << 22));
    c.num_layers = static_cast<int>(args.get_int("--layers", c.num_layers, 1, 1024));
    c.num_heads = static_cast<int>(args.get_int("--heads", c.num_heads, 1, 1024));
    c.num_kv_heads = static_cast<int>(args.get_int("--kv-heads", c.num_kv_heads, 1, 1024));
    c.vocab_size = static_cast<int>(args.get_int("--vocab", c.vocab_size, 1024, 1 << 24));
    c.model_type = args.get_or("--model-type", c.model_type);
    c.attention_bias = c.model_type == "qwen2";
    c.qk_norm = c.model_type == "qwen3";
    if (c.hidden_size <= 0 || c.num_heads <= 0 || c.hidden_size % c.num_heads != 0 || c.num_kv_heads <= 0 ||
        c.num_heads % c.num_kv_heads != 0 || c.num_layers <= 0 || c.intermediate_size <= 0 || c.vocab_size < 1024)
        usage_fail("invalid dimensions (heads must divide hidden, kv-heads divide heads, vocab >= 1024)");
    c.head_dim = c.hidden_size / c.num_heads;
    if (args.has("--untied")) c.tie_word_embeddings = false;  // else the preset's (8b is untied, as Llama-3-8B)
    spec.seed = static_cast<uint64_t>(args.get_int("--seed", 1, 0, INT64_MAX));
    spec.packed_qkv = args.has("--packed-qkv");
    spec.fused_gate_up = args.has("--fused-gate-up");
    spec.shards = static_cast<int>(args.get_int("--shards", 1, 1, 1000));
    const std::string dt = args.get_or("--dtype", "BF16");
    if (!io::parse_dtype(dt, spec.dtype)) usage_fail("--dtype must be BF16, F16 or F32");
    c.torch_dtype = dt == "F32" ? "float32" : dt == "F16" ? "float16" : "bfloat16";
    const int64_t params = io::write_synthetic_model(out, spec);
    if (args.has("--json"))
        std::cout << nlohmann::json({{"path", out}, {"parameters", params}}).dump() << "\n";
    else
        std::cout << "wrote " << out << " (" << params << " parameters)\n";
    return 0;
}

CommandRegistrar reg({"gen-model",
                      "mixq gen-model OUT_DIR [--preset tiny|100m|1b|8b] [--hidden H] [--layers L] [--heads A] [--kv-heads G] "
                      "[--intermediate I] [--vocab V] [--untied] [--packed-qkv] [--fused-gate-up] [--shards S] "
                      "[--model-type llama|mistral|qwen2|qwen3] [--dtype BF16|F16|F32] [--seed N] [--json]",
                      "Writes a synthetic Hugging Face model folder with seeded random weights (tests, benchmarks).",
                      {"--untied", "--packed-qkv", "--fused-gate-up", "--json"}, run_gen_model});

}  // namespace
}  // namespace mixq::cli
