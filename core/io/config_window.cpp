// SPDX-License-Identifier: MIT
// Sliding-window attention per decoder layer, as transformers' model classes apply it:
//   mistral: sliding_window (MistralConfig default 4096; null = off) on every layer;
//   qwen2, qwen3: sliding_window only when use_sliding_window is true (default false), on the layers that
//     layer_types marks "sliding_attention", or, without layer_types, on layers i >= max_window_layers (default 28)
//     (Qwen2Config / Qwen3Config: sliding_window = sliding_window if use_sliding_window else None;
//      layer_types[i] = "sliding_attention" if sliding_window is not None and i >= max_window_layers);
//   llama: none (a sliding_window key is refused by check_config_keys).
#include "core/common/error.h"
#include "core/io/config_parts.h"
#include "core/io/json_read.h"

namespace mixq::io {
using nlohmann::json;

namespace {

int read_window(const json& j, int dflt, const std::string& file) {
    if (!j.contains("sliding_window")) return dflt;
    if (j["sliding_window"].is_null()) return 0;
    return static_cast<int>(json_int(j["sliding_window"], 1, INT32_MAX, file, "sliding_window"));
}

std::vector<bool> qwen_layers(const json& j, ModelConfig& c, int window, const std::string& file) {
    std::vector<bool> sliding(static_cast<size_t>(c.num_layers), false);
    if (json_has(j, "layer_types")) {
        const json& lt = j["layer_types"];
        if (!lt.is_array() || lt.size() != static_cast<size_t>(c.num_layers))
            fail(file, "key 'layer_types' must list " + std::to_string(c.num_layers) +
                           " layer types (num_hidden_layers), got " + json_brief(lt));
        for (int i = 0; i < c.num_layers; ++i) {
            const std::string key = "layer_types[" + std::to_string(i) + "]";
            const std::string t = json_string(lt[static_cast<size_t>(i)], file, key);
            if (t != "full_attention" && t != "sliding_attention")
                fail(file, "key '" + key + "' = '" + t + "' is not supported (full_attention, sliding_attention are)");
            if (t == "sliding_attention" && window == 0)
                fail(file, "key '" + key + "' = 'sliding_attention' but use_sliding_window / sliding_window give no window");
            sliding[static_cast<size_t>(i)] = t == "sliding_attention";
        }
        c.sources["sliding_layers"] = "layer_types";
        return sliding;
    }
    int first = 28;  // Qwen2Config / Qwen3Config default
    c.sources["sliding_layers"] = "default max_window_layers 28";
    if (json_has(j, "max_window_layers")) {
        first = static_cast<int>(json_int(j["max_window_layers"], 0, INT32_MAX, file, "max_window_layers"));
        c.sources["sliding_layers"] = "max_window_layers " + std::to_string(first) + " (layers >= it slide)";
    }
    for (int i = 0; i < c.num_layers; ++i) sliding[static_cast<size_t>(i)] = window > 0 && i >= first;
    return sliding;
}

}  // namespace

void parse_sliding_window(const json& j, ModelConfig& c, const std::string& file) {
    c.sliding_window = 0;
    c.sliding_layers.clear();
    if (c.model_type == "mistral") {
        c.sliding_window = read_window(j, 4096, file);
        c.sources["sliding_window"] = j.contains("sliding_window") ? "sliding_window" : "default (MistralConfig: 4096)";
        c.sources["sliding_layers"] = "every layer (mistral)";
        c.sliding_layers.assign(static_cast<size_t>(c.num_layers), c.sliding_window > 0);
    } else if (c.model_type == "qwen2" || c.model_type == "qwen3") {
        bool use = false;
        if (json_has(j, "use_sliding_window")) use = json_bool(j["use_sliding_window"], file, "use_sliding_window");
        const int w = read_window(j, 4096, file);  // read (and type-checked) even when unused
        c.sliding_window = use ? w : 0;
        c.sources["sliding_window"] = use ? (j.contains("sliding_window") ? "sliding_window" : "default (4096)")
                                          : "off (use_sliding_window is false)";
        c.sliding_layers = qwen_layers(j, c, c.sliding_window, file);
    }
    if (!c.has_sliding_window()) {
        c.sliding_window = 0;
        c.sliding_layers.clear();
    }
}

}  // namespace mixq::io
