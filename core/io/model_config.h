// SPDX-License-Identifier: MIT
// ModelConfig: the decoder hyper-parameters read from a Hugging Face config.json (llama, mistral, qwen2, qwen3).
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mixq::io {

struct RopeScaling {
    std::string type = "none";  ///< "none", "linear" or "llama3"
    double factor = 1.0;
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    int original_max_position_embeddings = 8192;
};

struct ModelConfig {
    std::string model_type;  ///< llama, mistral, qwen2, qwen3
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int num_kv_heads = 0;
    int head_dim = 0;
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    bool tie_word_embeddings = false;
    bool attention_bias = false;  ///< q/k/v carry biases (qwen2 always does)
    bool qk_norm = false;         ///< per-head RMSNorm on q and k (qwen3)
    int vocab_size = 0;
    std::vector<int> bos_token_ids;
    std::vector<int> eos_token_ids;
    int max_position_embeddings = 2048;
    std::string torch_dtype;  ///< "dtype" (transformers 5) or "torch_dtype" (transformers 4); "" when absent
    std::string hidden_act = "silu";
    /// Sliding-window attention as transformers applies it: a sliding layer's query at position p sees the keys
    /// at positions (p - sliding_window, p] (itself and sliding_window - 1 before it). 0: no sliding window.
    int sliding_window = 0;
    std::vector<bool> sliding_layers;  ///< per decoder layer: true when it uses the window (empty: none does)
    /// Where each effective value came from, e.g. "rope_theta" -> "rope_parameters.rope_theta" or
    /// "default (transformers' Qwen3Config)"; shown by `mixq info`.
    std::map<std::string, std::string> sources;

    int q_dim() const { return num_heads * head_dim; }
    int kv_dim() const { return num_kv_heads * head_dim; }
    /// Keys a query of `layer` attends to (itself included), 0 for full causal attention.
    int window(int layer) const {
        return layer >= 0 && layer < static_cast<int>(sliding_layers.size()) && sliding_layers[layer] ? sliding_window : 0;
    }
    bool has_sliding_window() const {
        for (int i = 0; i < num_layers; ++i)
            if (window(i) > 0) return true;
        return false;
    }
};

/// Supported model_type values, for error messages.
const std::vector<std::string>& supported_model_types();

/// Parses config.json text (transformers 4 and 5 layouts). Every key is either read, known to leave the function
/// unchanged, or refused; wrong types and out-of-range values are refused. Errors are "<label>: <problem>" naming
/// the key and the value.
ModelConfig parse_model_config(const std::string& json_text, const std::string& label);
/// Reads and parses a config.json file.
ModelConfig load_model_config(const std::filesystem::path& path);
/// The config as JSON text in Hugging Face's key names (for generated models and export).
std::string model_config_to_json(const ModelConfig& c);

}  // namespace mixq::io
