// SPDX-License-Identifier: MIT
// Model: a Hugging Face model folder opened for use: validated config, memory-mapped weights, the layout of
// linear layers and quantization units, and the tokenizer path. Opening never reads tensor data.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "core/common/job.h"
#include "core/io/model_config.h"
#include "core/io/model_layout.h"
#include "core/io/safetensors.h"

namespace mixq::io {

class Model {
public:
    /// Opens a folder holding config.json, *.safetensors and tokenizer.json; checks that every tensor the
    /// architecture needs is present with the right shape. Throws mixq::Error naming the file and problem.
    static std::shared_ptr<Model> open(const std::filesystem::path& dir);

    const std::filesystem::path& dir() const { return m_dir; }
    const ModelConfig& config() const { return m_config; }
    const TensorStore& weights() const { return *m_weights; }
    std::shared_ptr<TensorStore> weights_ptr() const { return m_weights; }
    const ModelLayout& layout() const { return m_layout; }
    std::filesystem::path tokenizer_path() const { return m_dir / "tokenizer.json"; }

    /// Dtype of the linear weights (the model's float dtype, used for scales in quantized formats).
    DType weight_dtype() const { return m_weight_dtype; }
    int64_t parameter_count() const;
    /// 64-bit content hash of config.json and every weight byte, as 16 hex digits (cached after first call).
    std::string content_hash() const { return content_hash(null_job()); }
    /// Same, reporting progress ("hashing") and honouring cancel between 64 MiB chunks.
    std::string content_hash(const JobContext& job) const;
    /// The name of the unit that contains a tensor, or "" when none does.
    std::string unit_of_tensor(const std::string& tensor) const;

private:
    std::filesystem::path m_dir;
    ModelConfig m_config;
    std::shared_ptr<TensorStore> m_weights;
    ModelLayout m_layout;
    DType m_weight_dtype = DType::BF16;
    mutable std::string m_hash;
};

/// Path of the built-in demo model: $MIXQ_DEMO_MODEL, else data_dir()/demo-model (core/io/data_dir.h).
std::filesystem::path demo_model_path();

}  // namespace mixq::io
