// SPDX-License-Identifier: MIT
// config.json parsing and validation for the supported decoder families.
#include "core/io/model_config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/io/config_parts.h"
#include "core/common/input_file.h"
#include "core/io/json_read.h"

namespace mixq::io {
using nlohmann::json;

const std::vector<std::string>& supported_model_types() {
    static const std::vector<std::string> types = {"llama", "mistral", "qwen2", "qwen3"};
    return types;
}

namespace {

constexpr int64_t kMaxInt = INT32_MAX;

int get_int(const json& j, const char* key, const std::string& label) {
    if (!json_has(j, key)) fail(label, std::string("missing key '") + key + "'");
    if (j[key].is_number_integer() && (j[key].is_number_unsigned() ? j[key].get<uint64_t>() == 0 : j[key].get<int64_t>() <= 0))
        fail(label, std::string("key '") + key + "' must be positive, got " + std::to_string(j[key].get<int64_t>()));
    return static_cast<int>(json_int(j[key], 1, kMaxInt, label, key));
}

int get_int_or(const json& j, const char* key, int dflt, const std::string& label) {
    if (!json_has(j, key)) return dflt;
    return get_int(j, key, label);
}

bool get_bool_or(const json& j, const char* key, bool dflt, const std::string& label) {
    return json_has(j, key) ? json_bool(j[key], label, key) : dflt;
}

std::vector<int> get_ids(const json& j, const char* key, const std::string& label) {
    std::vector<int> out;
    if (!json_has(j, key)) return out;
    const json& v = j[key];
    if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i)
            out.push_back(static_cast<int>(json_int(v[i], 0, kMaxInt, label, std::string(key) + "[" + std::to_string(i) + "]")));
    } else {
        out.push_back(static_cast<int>(json_int(v, 0, kMaxInt, label, key)));
    }
    return out;
}

/// dtype (transformers 5) or torch_dtype (transformers 4); both present must agree.
void parse_dtype_key(const json& j, ModelConfig& c, const std::string& label) {
    static const std::vector<std::string> known = {"bfloat16", "float16", "float32"};
    for (const char* key : {"dtype", "torch_dtype"}) {
        if (!json_has(j, key)) continue;
        const std::string v = json_string(j[key], label, key);
        if (std::find(known.begin(), known.end(), v) == known.end())
            fail(label, std::string("key '") + key + "' = '" + v + "' is not supported (bfloat16, float16, float32 are)");
        if (!c.torch_dtype.empty() && c.torch_dtype != v)
            fail(label, "key 'dtype' = '" + c.torch_dtype + "' and 'torch_dtype' = '" + v + "' disagree");
        if (c.torch_dtype.empty()) c.sources["dtype"] = key;
        c.torch_dtype = v;
    }
    if (c.torch_dtype.empty()) c.sources["dtype"] = "absent (the weights' dtype is used)";
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& label) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(label, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail(label, "not a JSON object");
    ModelConfig c;
    if (!json_has(j, "model_type")) fail(label, "missing key 'model_type'");
    c.model_type = json_string(j["model_type"], label, "model_type");
    bool known = false;
    for (const auto& t : supported_model_types()) known |= (t == c.model_type);
    if (!known) {
        std::string list;
        for (const auto& t : supported_model_types()) list += (list.empty() ? "" : ", ") + t;
        fail(label, "model_type '" + c.model_type + "' is not supported (supported: " + list + ")");
    }
    c.hidden_size = get_int(j, "hidden_size", label);
    c.intermediate_size = get_int(j, "intermediate_size", label);
    c.num_layers = get_int(j, "num_hidden_layers", label);
    c.num_heads = get_int(j, "num_attention_heads", label);
    c.num_kv_heads = get_int_or(j, "num_key_value_heads", c.num_heads, label);
    c.sources["num_key_value_heads"] = json_has(j, "num_key_value_heads") ? "num_key_value_heads" : "default (num_attention_heads)";
    c.vocab_size = get_int(j, "vocab_size", label);
    // head_dim: Qwen3Config defaults to 128; the other families to hidden_size / num_attention_heads.
    if (json_has(j, "head_dim")) {
        c.head_dim = get_int(j, "head_dim", label);
        c.sources["head_dim"] = "head_dim";
    } else if (c.model_type == "qwen3") {
        c.head_dim = 128;
        c.sources["head_dim"] = "default (Qwen3Config: 128)";
    } else {
        if (c.hidden_size % c.num_heads != 0)
            fail(label, "num_attention_heads (" + std::to_string(c.num_heads) + ") does not divide hidden_size (" +
                            std::to_string(c.hidden_size) + ") and no head_dim is given");
        c.head_dim = c.hidden_size / c.num_heads;
        c.sources["head_dim"] = "default (hidden_size / num_attention_heads)";
    }
    if (c.num_heads % c.num_kv_heads != 0)
        fail(label, "num_key_value_heads (" + std::to_string(c.num_kv_heads) + ") does not divide num_attention_heads (" +
                        std::to_string(c.num_heads) + ")");
    if (c.head_dim % 2 != 0) fail(label, "head_dim must be even for rotary embeddings, got " + std::to_string(c.head_dim));
    if (static_cast<int64_t>(c.num_heads) * c.head_dim > kMaxInt)
        fail(label, "num_attention_heads x head_dim is too large");
    c.rms_norm_eps = json_has(j, "rms_norm_eps") ? json_number(j["rms_norm_eps"], label, "rms_norm_eps") : 1e-6;
    if (!(c.rms_norm_eps > 0)) fail(label, "rms_norm_eps must be positive");
    c.max_position_embeddings = get_int_or(j, "max_position_embeddings", 2048, label);
    c.tie_word_embeddings = get_bool_or(j, "tie_word_embeddings", false, label);
    c.sources["tie_word_embeddings"] = json_has(j, "tie_word_embeddings") ? "tie_word_embeddings" : "default (false)";
    // qwen2's attention always has q/k/v biases in transformers; the key can say otherwise.
    c.attention_bias = get_bool_or(j, "attention_bias", c.model_type == "qwen2", label);
    c.sources["attention_bias"] = json_has(j, "attention_bias") ? "attention_bias"
                                  : c.model_type == "qwen2" ? "default (qwen2: true)" : "default (false)";
    if (get_bool_or(j, "mlp_bias", false, label))
        fail(label, "key 'mlp_bias' = true is not supported (MixQ's MLP has no biases)");
    c.qk_norm = c.model_type == "qwen3";
    if (json_has(j, "hidden_act")) c.hidden_act = json_string(j["hidden_act"], label, "hidden_act");
    if (c.hidden_act != "silu" && c.hidden_act != "swish")
        fail(label, "key 'hidden_act' = '" + c.hidden_act + "' is not supported (silu is)");
    parse_dtype_key(j, c, label);
    c.bos_token_ids = get_ids(j, "bos_token_id", label);
    c.eos_token_ids = get_ids(j, "eos_token_id", label);
    parse_rope(j, c, label);
    parse_sliding_window(j, c, label);
    check_config_keys(j, c, label);
    return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
    return parse_model_config(read_input_file(path, kMaxJsonBytes), path.string());
}

std::string model_config_to_json(const ModelConfig& c) {
    json j;
    j["architectures"] = {c.model_type == "qwen2"   ? "Qwen2ForCausalLM"
                          : c.model_type == "qwen3" ? "Qwen3ForCausalLM"
                          : c.model_type == "mistral" ? "MistralForCausalLM"
                                                      : "LlamaForCausalLM"};
    j["model_type"] = c.model_type;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.num_layers;
    j["num_attention_heads"] = c.num_heads;
    j["num_key_value_heads"] = c.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["vocab_size"] = c.vocab_size;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["attention_bias"] = c.attention_bias;
    j["hidden_act"] = c.hidden_act;
    if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
    if (c.bos_token_ids.size() == 1) j["bos_token_id"] = c.bos_token_ids[0];
    else if (!c.bos_token_ids.empty()) j["bos_token_id"] = c.bos_token_ids;
    if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
    else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
    if (c.model_type == "mistral") j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
    if (c.model_type == "qwen2" || c.model_type == "qwen3") {
        j["use_sliding_window"] = c.sliding_window > 0;
        j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
        j["max_window_layers"] = c.num_layers;
        if (c.sliding_window > 0) {
            json types = json::array();
            for (int i = 0; i < c.num_layers; ++i) types.push_back(c.window(i) > 0 ? "sliding_attention" : "full_attention");
            j["layer_types"] = types;
        }
    }
    if (c.rope_scaling.type == "none") j["rope_scaling"] = nullptr;
    else {
        j["rope_scaling"] = {{"rope_type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor}};
        if (c.rope_scaling.type == "llama3") {
            j["rope_scaling"]["low_freq_factor"] = c.rope_scaling.low_freq_factor;
            j["rope_scaling"]["high_freq_factor"] = c.rope_scaling.high_freq_factor;
            j["rope_scaling"]["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
        }
    }
    return j.dump(2);
}

}  // namespace mixq::io
