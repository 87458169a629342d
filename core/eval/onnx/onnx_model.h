// SPDX-License-Identifier: MIT
// OnnxModel: an ONNX Runtime GenAI export folder (genai_config.json + model.onnx + model.onnx.data) run by the
// built-in OnnxRunner as a LanguageModel. Sessions carry present.* outputs back as past_key_values.* inputs
// (batch 1; at full session capacity, appended in place, when the graph allows it), with an all-ones
// attention_mask of the total length; logits_batch runs several
// fresh sequences as one right-padded batch (onnx_batch_forward.cpp).
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "core/engine/language_model.h"
#include "core/eval/onnx/onnx_runner.h"

namespace mixq::eval::onnx {

/// The decoder description from genai_config.json.
struct GenaiDecoderConfig {
    std::string filename = "model.onnx";
    /// attention_mask / position_ids are fed only when the graph has them.
    std::string input_ids = "input_ids", attention_mask = "attention_mask", position_ids = "position_ids";
    std::string past_key_names = "past_key_values.%d.key", past_value_names = "past_key_values.%d.value";
    std::string logits = "logits";
    std::string present_key_names = "present.%d.key", present_value_names = "present.%d.value";
    int num_layers = 0, num_kv_heads = 0, head_size = 0, num_heads = 0, hidden_size = 0;
    int vocab_size = 0, context_length = 0;
    int eos_token_id = -1;  ///< model.eos_token_id (the first when a list), -1 when absent
};

/// Parses genai_config.json; errors are "<file>: <problem>".
GenaiDecoderConfig load_genai_config(const std::filesystem::path& path);
/// A per-layer name from a genai_config.json pattern ("past_key_values.%d.key", layer 3 -> "past_key_values.3.key").
std::string layer_input_name(const std::string& pattern, int layer);
/// True when `dir` holds model.onnx (or the configured file) and genai_config.json.
bool is_export_dir(const std::filesystem::path& dir);

class OnnxModel : public engine::LanguageModel {
public:
    explicit OnnxModel(const std::filesystem::path& export_dir);
    std::string backend() const override { return "onnx-runner"; }
    int vocab_size() const override { return m_cfg.vocab_size; }
    int context_length() const override { return m_cfg.context_length; }
    std::unique_ptr<engine::LmSession> start(int capacity) override;
    std::vector<engine::RowMatrix> logits_batch(const std::vector<engine::BatchSeq>& seqs,
                                                const CancelToken& cancel) override;
    bool batches_natively() const override { return true; }
    uint64_t weight_bytes_per_token() override { return m_weight_bytes; }

    const GenaiDecoderConfig& config() const { return m_cfg; }
    const OnnxRunner& runner() const { return *m_runner; }
    /// Sessions append to their KV cache in place (see m_kv_in_place).
    bool kv_in_place() const { return m_kv_in_place; }

private:
    friend class OnnxSession;
    GenaiDecoderConfig m_cfg;
    std::unique_ptr<OnnxRunner> m_runner;
    uint64_t m_weight_bytes = 0;
    /// Every past_key_values input feeds only GroupQueryAttention's past slot whose present is the matching output:
    /// sessions then hold their KV cache at full capacity and hand it over to each run (appended in place).
    bool m_kv_in_place = false;
};

}  // namespace mixq::eval::onnx
