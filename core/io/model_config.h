// SPDX-License-Identifier: MIT
// ModelConfig: the decoder hyper-parameters read from a Hugging Face config.json (llama, mistral, qwen2, qwen3).
#pragma once
#include <filesystem>
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
    std::string torch_dtype;
    std::string hidden_act = "silu";

    int q_dim() const { return num_heads * head_dim; }
    int kv_dim() const { return num_kv_heads * head_dim; }
};

/// Supported model_type values, for error messages.
const std::vector<std::string>& supported_model_types();

/// Parses config.json text. Errors are "<label>: <problem>" (missing key, unknown model_type, bad sizes).
ModelConfig parse_model_config(const std::string& json_text, const std::string& label);
/// Reads and parses a config.json file.
ModelConfig load_model_config(const std::filesystem::path& path);
/// The config as JSON text in Hugging Face's key names (for generated models and export).
std::string model_config_to_json(const ModelConfig& c);

}  // namespace mixq::io
