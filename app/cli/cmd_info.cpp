// SPDX-License-Identifier: MIT
// `mixq info MODEL [--json] [--no-scan]`: architecture, dimensions, parameter count, dtype, tying and the linear
// layers; every weight is first scanned for NaN / Inf (a refusal naming the shard, tensor and element) unless
// --no-scan (the scan reads the whole model once: about the time of copying its files).
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/io/model.h"
#include "core/io/weight_scan.h"

namespace mixq::cli {
namespace {

/// "full causal" or "sliding window W on layers a, b, ...".
std::string window_summary(const io::ModelConfig& c) {
    if (!c.has_sliding_window()) return "full causal on every layer";
    std::string layers;
    for (int i = 0; i < c.num_layers; ++i)
        if (c.window(i) > 0) layers += (layers.empty() ? "" : ",") + std::to_string(i);
    return "sliding window " + std::to_string(c.sliding_window) + " keys on layers " + layers + ", full causal elsewhere";
}

int run_info(const Args& args) {
    args.allow_only({"--json", "--no-scan"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const bool scan = !args.has("--no-scan");
    const io::WeightScan ws = scan ? io::scan_weights(model->weights()) : io::WeightScan{};
    const auto& c = model->config();
    const auto& L = model->layout();
    nlohmann::json j;
    j["path"] = model->dir().string();
    j["model_type"] = c.model_type;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_layers"] = c.num_layers;
    j["num_heads"] = c.num_heads;
    j["num_kv_heads"] = c.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["vocab_size"] = c.vocab_size;
    j["rope_theta"] = c.rope_theta;
    j["rope_scaling"] = c.rope_scaling.type;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["parameters"] = model->parameter_count();
    j["dtype"] = io::dtype_name(model->weight_dtype());
    j["tied_embeddings"] = L.tied_embeddings;
    j["packed_qkv"] = L.packed_qkv;
    j["fused_gate_up"] = L.fused_gate_up;
    j["attention_bias"] = c.attention_bias;
    j["qk_norm"] = c.qk_norm;
    j["weight_bytes"] = model->weights().total_bytes();
    j["config_dtype"] = c.torch_dtype;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["rope_scaling_factor"] = c.rope_scaling.factor;
    j["eos_token_ids"] = c.eos_token_ids;
    j["bos_token_ids"] = c.bos_token_ids;
    j["sliding_window"] = c.sliding_window;
    nlohmann::json windows = nlohmann::json::array();
    for (int i = 0; i < c.num_layers; ++i) windows.push_back(c.window(i));
    j["layer_windows"] = windows;
    j["sources"] = c.sources;
    nlohmann::json ignored = nlohmann::json::array();
    for (const auto& ig : L.ignored) ignored.push_back({{"tensor", ig.tensor}, {"reason", ig.reason}});
    j["ignored_tensors"] = ignored;
    nlohmann::json lin = nlohmann::json::array();
    for (const auto& t : L.linears)
        lin.push_back({{"name", t.name}, {"role", io::linear_role_name(t.role)}, {"layer", t.layer},
                       {"shape", {t.out_features, t.in_features}}});
    j["linear_layers"] = lin;
    nlohmann::json units = nlohmann::json::array();
    for (const auto& u : L.units) {
        nlohmann::json m = nlohmann::json::array();
        for (const auto& t : u.members) m.push_back(t.name);
        units.push_back({{"name", u.name}, {"kind", io::unit_kind_name(u.kind)}, {"layer", u.layer}, {"members", m},
                         {"weights", u.numel()}});
    }
    j["units"] = units;
    j["weights_scanned"] = scan;  // true: every weight was read and is finite (a NaN / Inf refuses the model)
    if (scan) j["weights_scan_seconds"] = ws.seconds;
    if (args.has("--json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "model:        " << model->dir().string() << "\n"
              << "architecture: " << c.model_type << " (" << c.num_layers << " layers, hidden " << c.hidden_size
              << ", MLP " << c.intermediate_size << ", heads " << c.num_heads << "/" << c.num_kv_heads << " kv, head_dim "
              << c.head_dim << ", vocab " << c.vocab_size << ")\n"
              << "parameters:   " << model->parameter_count() << " (" << io::dtype_name(model->weight_dtype()) << ", "
              << model->weights().total_bytes() << " bytes)\n"
              << "weights:      "
              << (scan ? "all finite (" + std::to_string(ws.tensors) + " tensors scanned for NaN / Inf in " +
                             std::to_string(static_cast<int>(ws.seconds * 1000 + 0.5)) + " ms)"
                       : std::string("not scanned for NaN / Inf (--no-scan)"))
              << "\n"
              << "rope:         theta " << c.rope_theta << ", scaling " << c.rope_scaling.type << "\n"
              << "attention:    " << window_summary(c) << "\n"
              << "tied embeddings: " << (L.tied_embeddings ? "yes" : "no") << ", packed qkv: "
              << (L.packed_qkv ? "yes" : "no") << ", fused gate_up: " << (L.fused_gate_up ? "yes" : "no") << "\n"
              << "effective config (value <- where it came from in config.json):\n";
    auto src = [&](const char* k) { return c.sources.count(k) ? c.sources.at(k) : std::string("?"); };
    std::cout << "  rope_theta = " << c.rope_theta << "  <- " << src("rope_theta") << "\n"
              << "  rope_type = " << (c.rope_scaling.type == "none" ? "default" : c.rope_scaling.type) << "  <- "
              << src("rope_type") << "\n"
              << "  head_dim = " << c.head_dim << "  <- " << src("head_dim") << "\n"
              << "  num_key_value_heads = " << c.num_kv_heads << "  <- " << src("num_key_value_heads") << "\n"
              << "  dtype = " << (c.torch_dtype.empty() ? "-" : c.torch_dtype) << "  <- " << src("dtype") << "\n"
              << "  tie_word_embeddings = " << (c.tie_word_embeddings ? "true" : "false") << "  <- "
              << src("tie_word_embeddings") << "\n"
              << "  attention_bias = " << (c.attention_bias ? "true" : "false") << "  <- " << src("attention_bias") << "\n";
    if (c.sources.count("sliding_window"))
        std::cout << "  sliding_window = " << c.sliding_window << "  <- " << src("sliding_window") << "; layers: "
                  << src("sliding_layers") << "\n";
    std::cout << "  eos_token_id = ";
    for (size_t i = 0; i < c.eos_token_ids.size(); ++i) std::cout << (i ? "," : "") << c.eos_token_ids[i];
    std::cout << "\n";
    for (const auto& ig : L.ignored) std::cout << "ignored tensor: " << ig.tensor << " (" << ig.reason << ")\n";
    std::cout << "linear layers (" << L.linears.size() << "):\n";
    for (const auto& t : L.linears)
        std::cout << "  " << t.name << "  [" << t.out_features << ", " << t.in_features << "]\n";
    return 0;
}

CommandRegistrar reg({"info", "mixq info MODEL [--json] [--no-scan]",
                      "Prints the architecture, dimensions, parameter count, dtype and linear layers of a model folder; "
                      "refuses a model holding a NaN or Inf weight (every weight is scanned unless --no-scan).",
                      {"--json", "--no-scan"}, run_info});

}  // namespace
}  // namespace mixq::cli
