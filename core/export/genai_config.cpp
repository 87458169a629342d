// SPDX-License-Identifier: MIT
// genai_config.json: the decoder description and search defaults ONNX Runtime GenAI reads.
#include "core/export/genai_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/common/input_file.h"

namespace mixq::exporter {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

json read_json_if_present(const std::filesystem::path& p) {
    std::string text;
    if (!mixq::read_input_file_if_present(p, mixq::kMaxJsonBytes, text)) return json::object();
    try {
        json j = json::parse(text);
        if (!j.is_object()) fail(p.string(), "not a JSON object");
        return j;
    } catch (const json::exception& e) {
        fail(p.string(), std::string("invalid JSON: ") + e.what());
    }
}

/// generation_config.json's value when set (not null), else config.json's, else null.
json pick(const json& gen, const json& cfg, const char* key) {
    if (gen.contains(key) && !gen[key].is_null()) return gen[key];
    if (cfg.contains(key) && !cfg[key].is_null()) return cfg[key];
    return nullptr;
}

json number_or(const json& v, double dflt) { return v.is_number() ? v : json(dflt); }

}  // namespace

std::string make_genai_config(const io::Model& model, const std::string& onnx_filename, const std::string& target) {
    const io::ModelConfig& c = model.config();
    const json cfg = read_json_if_present(model.dir() / "config.json");
    const json gen = read_json_if_present(model.dir() / "generation_config.json");

    json bos = pick(gen, cfg, "bos_token_id");
    if (bos.is_array()) bos = bos.empty() ? json(1) : bos[0];
    if (!bos.is_number_integer()) bos = 1;
    json eos = pick(gen, cfg, "eos_token_id");
    if (eos.is_null()) eos = c.eos_token_ids.empty() ? json(bos) : json(c.eos_token_ids[0]);
    if (eos.is_array() && eos.size() == 1) eos = eos[0];
    json pad = pick(gen, cfg, "pad_token_id");
    if (!pad.is_number_integer()) pad = eos.is_array() ? (eos.empty() ? bos : eos[0]) : eos;

    const int context = c.max_position_embeddings;
    ordered_json j;
    ordered_json& m = j["model"];
    m["bos_token_id"] = bos;
    m["context_length"] = context;
    ordered_json& d = m["decoder"];
    ordered_json providers = ordered_json::array();
    if (target == "cuda") providers.push_back({{"cuda", {{"enable_cuda_graph", "0"}}}});
    if (target == "dml") providers.push_back({{"dml", {{"enable_graph_capture", "1"}}}});
    d["session_options"] = {{"log_id", "onnxruntime-genai"}, {"provider_options", providers}};
    d["filename"] = onnx_filename;
    d["head_size"] = c.head_dim;
    d["hidden_size"] = c.hidden_size;
    d["inputs"] = {{"input_ids", "input_ids"},
                   {"attention_mask", "attention_mask"},
                   {"past_key_names", "past_key_values.%d.key"},
                   {"past_value_names", "past_key_values.%d.value"}};
    d["outputs"] = {{"logits", "logits"},
                    {"present_key_names", "present.%d.key"},
                    {"present_value_names", "present.%d.value"}};
    d["num_attention_heads"] = c.num_heads;
    d["num_hidden_layers"] = c.num_layers;
    d["num_key_value_heads"] = c.num_kv_heads;
    m["eos_token_id"] = eos;
    m["pad_token_id"] = pad;
    m["type"] = c.model_type;
    m["vocab_size"] = c.vocab_size;

    const json do_sample = pick(gen, json::object(), "do_sample");
    const json top_k = pick(gen, json::object(), "top_k");
    ordered_json& s = j["search"];
    s["diversity_penalty"] = number_or(pick(gen, json::object(), "diversity_penalty"), 0.0);
    s["do_sample"] = do_sample.is_boolean() ? do_sample.get<bool>() : false;
    s["early_stopping"] = true;
    s["length_penalty"] = number_or(pick(gen, json::object(), "length_penalty"), 1.0);
    s["max_length"] = context;
    s["min_length"] = 0;
    s["no_repeat_ngram_size"] = 0;
    s["num_beams"] = 1;
    s["num_return_sequences"] = 1;
    s["past_present_share_buffer"] = true;
    s["repetition_penalty"] = number_or(pick(gen, json::object(), "repetition_penalty"), 1.0);
    s["temperature"] = number_or(pick(gen, json::object(), "temperature"), 1.0);
    s["top_k"] = top_k.is_number_integer() ? top_k.get<int64_t>() : 50;
    s["top_p"] = number_or(pick(gen, json::object(), "top_p"), 1.0);
    return j.dump(4) + "\n";
}

}  // namespace mixq::exporter
