// SPDX-License-Identifier: MIT
// Models and plans shared by the export tests that compare an exported ONNX file with the CPU engine
// (test_export_ort: real ONNX Runtime; test_onnx_runner_model: the built-in runner): small synthetic llama / qwen2 /
// qwen3 models, uniform and mixed per-layer plans, the export-option variants, pseudo-random token ids.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/export/exporter.h"
#include "core/io/model.h"
#include "core/io/model_layout.h"
#include "core/io/synthetic_model.h"
#include "core/quant/quant_format.h"

namespace mixq_test {

inline mixq::quant::QuantFormat fmt(const std::string& s) { return mixq::quant::QuantFormat::parse(s); }

/// tests/ort: the npm onnxruntime-node install and ort_run.js.
inline std::filesystem::path ort_dir() { return std::filesystem::path(MIXQ_SOURCE_RESOURCES).parent_path() / "tests" / "ort"; }

/// `n` ids in [0, vocab) from a linear congruential generator seeded with `seed`.
template <class Id = int>
std::vector<Id> token_ids(int n, int vocab, uint32_t seed) {
    std::vector<Id> ids;
    uint32_t x = seed;
    for (int i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        ids.push_back(static_cast<Id>((x >> 8) % static_cast<uint32_t>(vocab)));
    }
    return ids;
}

/// A 2-layer synthetic model of `type` (qwen2: q/k/v biases; qwen3: q/k norm), written to `dir` and opened.
/// `packed`: the file stores qkv and gate_up fused; `rope` "llama3" adds llama3 RoPE scaling; `sliding_window` > 0
/// gives mistral that window on every layer, qwen2/qwen3 on layers >= 1.
inline std::shared_ptr<mixq::io::Model> synthetic_export_model(const std::filesystem::path& dir, const std::string& type,
                                                               int hidden, int heads, int kv_heads, bool tied,
                                                               bool packed, const std::string& rope = "none",
                                                               int sliding_window = 0) {
    mixq::io::SyntheticSpec s = mixq::io::SyntheticSpec::preset("tiny");
    auto& c = s.config;
    c.model_type = type;
    c.attention_bias = type == "qwen2";
    c.qk_norm = type == "qwen3";
    c.hidden_size = hidden;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads;
    c.head_dim = hidden / heads;
    c.intermediate_size = 2 * hidden + 32;
    c.vocab_size = 512;
    c.tie_word_embeddings = tied;
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1e6;
    if (rope == "llama3") {
        c.rope_scaling.type = "llama3";
        c.rope_scaling.factor = 8.0;
        c.rope_scaling.low_freq_factor = 1.0;
        c.rope_scaling.high_freq_factor = 4.0;
        c.rope_scaling.original_max_position_embeddings = 64;
    }
    if (sliding_window > 0) {  // mistral: every layer; qwen: layers >= 1 (written as layer_types)
        c.sliding_window = sliding_window;
        c.sliding_layers.assign(static_cast<size_t>(c.num_layers), true);
        if (type != "mistral") c.sliding_layers[0] = false;
    }
    s.packed_qkv = packed;
    s.fused_gate_up = packed;
    s.init_std = 0.25f;  // activations of order one, so a wrong graph shows in the logits
    s.seed = static_cast<uint64_t>(hidden * 131 + heads);
    mixq::io::write_synthetic_model(dir, s);
    return mixq::io::Model::open(dir);
}

/// A plan choice giving every unit the format named `f` (e.g. "int4-g32").
inline std::function<mixq::quant::QuantFormat(const mixq::io::QuantUnit&)> uniform_format(const std::string& f) {
    return [q = fmt(f)](const mixq::io::QuantUnit&) { return q; };
}

/// A plan mixing every format the exporter writes: int4 / int8, symmetric / asymmetric, k-quant, block sizes 16 to
/// 128 and 16-bit linears, varying by layer.
inline mixq::quant::QuantFormat mixed_format(const mixq::io::QuantUnit& u) {
    using mixq::io::UnitKind;
    const int l = u.layer;
    switch (u.kind) {
        case UnitKind::QKV: return fmt(l % 2 ? "int8-g64-sym" : "int4-g32");
        case UnitKind::O: return l == 2 ? mixq::quant::QuantFormat::float16() : fmt("int4-g128-kquant");
        case UnitKind::GateUp: return l < 2 ? mixq::quant::QuantFormat::float16() : fmt("int4-g64-sym");
        case UnitKind::Down: return fmt(l >= 4 ? "int8-g32" : "int4-g16");
        default: return fmt("int8-g64");
    }
}

/// The export layouts the tests cover: packed QKV + fused gate|up + shared tied table; unpacked QKV with separate
/// embedding and lm_head tables; packed with the tied table off.
struct ExportVariants {
    mixq::exporter::ExportOptions packed, unpacked, packed_off;
    ExportVariants() {
        packed.fuse_gate_up = true;
        unpacked.qkv = mixq::exporter::QkvMode::Unpacked;
        unpacked.tied = mixq::exporter::TiedMode::Off;
        packed_off.tied = mixq::exporter::TiedMode::Off;
    }
};

}  // namespace mixq_test
