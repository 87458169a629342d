// SPDX-License-Identifier: MIT
// config.json parsing and validation for the supported decoder families.
#include "core/io/model_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"

namespace mixq::io {
using nlohmann::json;

const std::vector<std::string>& supported_model_types() {
    static const std::vector<std::string> types = {"llama", "mistral", "qwen2", "qwen3"};
    return types;
}

namespace {

int get_int(const json& j, const char* key, const std::string& label) {
    if (!j.contains(key) || j[key].is_null()) fail(label, std::string("missing key '") + key + "'");
    if (!j[key].is_number_integer()) fail(label, std::string("key '") + key + "' is not an integer");
    const int64_t v = j[key].get<int64_t>();
    if (v <= 0 || v > (1ll << 31)) fail(label, std::string("key '") + key + "' must be positive, got " + std::to_string(v));
    return static_cast<int>(v);
}

int get_int_or(const json& j, const char* key, int dflt, const std::string& label) {
    if (!j.contains(key) || j[key].is_null()) return dflt;
    return get_int(j, key, label);
}

double get_num_or(const json& j, const char* key, double dflt, const std::string& label) {
    if (!j.contains(key) || j[key].is_null()) return dflt;
    if (!j[key].is_number()) fail(label, std::string("key '") + key + "' is not a number");
    return j[key].get<double>();
}

std::vector<int> get_ids(const json& j, const char* key, const std::string& label) {
    std::vector<int> out;
    if (!j.contains(key) || j[key].is_null()) return out;
    const json& v = j[key];
    if (v.is_number_integer()) out.push_back(v.get<int>());
    else if (v.is_array()) {
        for (const auto& e : v) {
            if (!e.is_number_integer()) fail(label, std::string("key '") + key + "' holds a non-integer id");
            out.push_back(e.get<int>());
        }
    } else fail(label, std::string("key '") + key + "' must be an integer or a list of integers");
    return out;
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
    if (!j.contains("model_type") || !j["model_type"].is_string()) fail(label, "missing key 'model_type'");
    c.model_type = j["model_type"].get<std::string>();
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
    c.vocab_size = get_int(j, "vocab_size", label);
    if (c.hidden_size % c.num_heads != 0 && !(j.contains("head_dim") && !j["head_dim"].is_null()))
        fail(label, "num_attention_heads (" + std::to_string(c.num_heads) + ") does not divide hidden_size (" +
                        std::to_string(c.hidden_size) + ") and no head_dim is given");
    c.head_dim = get_int_or(j, "head_dim", c.hidden_size / c.num_heads, label);
    if (c.num_heads % c.num_kv_heads != 0)
        fail(label, "num_key_value_heads (" + std::to_string(c.num_kv_heads) + ") does not divide num_attention_heads (" +
                        std::to_string(c.num_heads) + ")");
    if (c.head_dim % 2 != 0) fail(label, "head_dim must be even for rotary embeddings, got " + std::to_string(c.head_dim));
    c.rms_norm_eps = get_num_or(j, "rms_norm_eps", 1e-6, label);
    if (!(c.rms_norm_eps > 0)) fail(label, "rms_norm_eps must be positive");
    c.rope_theta = get_num_or(j, "rope_theta", 10000.0, label);
    if (!(c.rope_theta > 0)) fail(label, "rope_theta must be positive");
    c.max_position_embeddings = get_int_or(j, "max_position_embeddings", 2048, label);
    if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean())
        c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
    c.attention_bias = c.model_type == "qwen2";
    if (j.contains("attention_bias") && j["attention_bias"].is_boolean())
        c.attention_bias = j["attention_bias"].get<bool>();
    c.qk_norm = c.model_type == "qwen3";
    if (j.contains("hidden_act") && j["hidden_act"].is_string()) c.hidden_act = j["hidden_act"].get<std::string>();
    if (c.hidden_act != "silu" && c.hidden_act != "swish")
        fail(label, "hidden_act '" + c.hidden_act + "' is not supported (silu is)");
    if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"].get<std::string>();
    c.bos_token_ids = get_ids(j, "bos_token_id", label);
    c.eos_token_ids = get_ids(j, "eos_token_id", label);

    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
        const json& rs = j["rope_scaling"];
        if (!rs.is_object()) fail(label, "rope_scaling must be an object or null");
        std::string type;
        if (rs.contains("rope_type") && rs["rope_type"].is_string()) type = rs["rope_type"].get<std::string>();
        else if (rs.contains("type") && rs["type"].is_string()) type = rs["type"].get<std::string>();
        if (type == "default" || type.empty()) type = "none";
        if (type != "none" && type != "linear" && type != "llama3")
            fail(label, "rope_scaling type '" + type + "' is not supported (linear, llama3 are)");
        c.rope_scaling.type = type;
        c.rope_scaling.factor = get_num_or(rs, "factor", 1.0, label);
        if (!(c.rope_scaling.factor > 0)) fail(label, "rope_scaling factor must be positive");
        c.rope_scaling.low_freq_factor = get_num_or(rs, "low_freq_factor", 1.0, label);
        c.rope_scaling.high_freq_factor = get_num_or(rs, "high_freq_factor", 4.0, label);
        c.rope_scaling.original_max_position_embeddings =
            get_int_or(rs, "original_max_position_embeddings", 8192, label);
        if (type == "llama3" && !(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor))
            fail(label, "rope_scaling: high_freq_factor must exceed low_freq_factor");
    }
    return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), "cannot open (missing config.json?)");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_model_config(ss.str(), path.string());
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
