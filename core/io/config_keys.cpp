// SPDX-License-Identifier: MIT
// Every config.json key is read by parse_model_config, known to leave the decoder's function unchanged, or
// refused: a field MixQ does not know could change the computation, so it is never ignored silently.
#include <set>

#include "core/common/error.h"
#include "core/io/config_parts.h"
#include "core/io/json_read.h"

namespace mixq::io {
using nlohmann::json;

namespace {

/// Keys parse_model_config and its parts read (for every supported family).
const std::set<std::string>& read_keys() {
    static const std::set<std::string> k = {
        "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "vocab_size", "rms_norm_eps", "rope_theta", "rope_scaling",
        "rope_parameters", "partial_rotary_factor", "max_position_embeddings", "tie_word_embeddings",
        "attention_bias", "mlp_bias", "hidden_act", "torch_dtype", "dtype", "bos_token_id", "eos_token_id"};
    return k;
}

/// Keys whose value never changes the forward pass of a decoder-only causal LM (bookkeeping, training-only
/// settings such as dropout and init, tensor-parallel split that computes the same product, generation defaults).
const std::set<std::string>& harmless_keys() {
    static const std::set<std::string> k = {
        "architectures", "transformers_version", "_name_or_path", "use_cache", "initializer_range",
        "attention_dropout", "hidden_dropout", "embd_pdrop", "resid_pdrop", "pretraining_tp", "pad_token_id",
        "sep_token_id", "decoder_start_token_id", "output_attentions", "output_hidden_states", "return_dict",
        "use_return_dict", "torchscript", "use_bfloat16", "id2label", "label2id", "problem_type", "tokenizer_class",
        "finetuning_task", "prefix", "task_specific_params", "is_llama_config", "transformers.js_config",
        "_attn_implementation", "_attn_implementation_autoset", "attn_implementation", "chunk_size_feed_forward",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
        "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
        "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
        "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "tf_legacy_loss"};
    return k;
}

/// Keys that are harmless only with the value given here (any other value would change the function).
const std::map<std::string, json>& harmless_if() {
    static const std::map<std::string, json> k = {
        {"rope_interleaved", false}, {"is_decoder", false},          {"is_encoder_decoder", false},
        {"add_cross_attention", false}, {"tie_encoder_decoder", false}, {"pruned_heads", json::object()},
        {"use_sliding_window", false}, {"use_mrope", false},          {"cross_attention_hidden_size", nullptr}};
    return k;
}

bool family_reads(const std::string& type, const std::string& key) {
    if (type == "mistral") return key == "sliding_window";
    if (type == "qwen2" || type == "qwen3")
        return key == "sliding_window" || key == "use_sliding_window" || key == "max_window_layers" || key == "layer_types";
    return false;
}

}  // namespace

void check_config_keys(const json& j, const ModelConfig& c, const std::string& file) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        if (read_keys().count(key) || harmless_keys().count(key) || family_reads(c.model_type, key)) continue;
        if (it->is_null()) continue;
        const auto h = harmless_if().find(key);
        if (h != harmless_if().end() && *it == h->second) continue;
        fail(file, "key '" + key + "' = " + json_brief(*it) + " is not implemented by MixQ for " + c.model_type +
                       " and could change the computation (remove it only if transformers ignores it too)");
    }
}

}  // namespace mixq::io
