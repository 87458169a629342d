// SPDX-License-Identifier: MIT
// Generator of synthetic Hugging Face model folders (config.json, model.safetensors with seeded random weights,
// the demo tokenizer) for tests and benchmarks at sizes the demo model cannot reach (~100M, ~1B parameters).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/io/dtype.h"
#include "core/io/model_config.h"

namespace mixq::io {

struct SyntheticSpec {
    ModelConfig config;
    DType dtype = DType::BF16;
    uint64_t seed = 1;
    bool packed_qkv = false;     ///< write self_attn.qkv_proj instead of q/k/v
    bool fused_gate_up = false;  ///< write mlp.gate_up_proj instead of gate/up
    int shards = 1;              ///< > 1 writes model-0000i-of-0000n.safetensors + index
    float init_std = 0.02f;

    /// Named presets: "tiny" (~0.3M), "100m" (~100M), "1b" (~1B), "8b" (Llama-3-8B's shapes, 8.03B, ~16 GB of BF16).
    /// Throws for other names.
    static SyntheticSpec preset(const std::string& name);
};

/// Writes the folder atomically (temporary folder + rename); tensors are generated and streamed one at a time,
/// so memory stays at one tensor. Returns the number of parameters written.
int64_t write_synthetic_model(const std::filesystem::path& dir, const SyntheticSpec& spec);

}  // namespace mixq::io
