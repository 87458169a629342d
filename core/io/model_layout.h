// SPDX-License-Identifier: MIT
// Where each weight of a decoder lives: Hugging Face tensor names built in one place, the role of each linear
// layer, and the quantization units (QKV group, o, gate|up group, down, lm_head, embeddings) that scoring,
// planning and export share.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/io/model_config.h"

namespace mixq::io {

enum class LinearRole { Q, K, V, QKV, O, Gate, Up, GateUp, Down, LmHead, Embedding };
const char* linear_role_name(LinearRole r);  ///< "q", "k", "v", "qkv", "o", "gate", "up", "gate_up", "down", "lm_head", "embed"

/// One weight matrix [out_features N, in_features K] as stored (PyTorch Linear layout).
struct LinearTensor {
    std::string name;  ///< e.g. "model.layers.3.self_attn.q_proj.weight"
    LinearRole role = LinearRole::Q;
    int layer = -1;  ///< decoder layer, -1 for embeddings / lm_head
    int64_t out_features = 0;
    int64_t in_features = 0;
    int64_t numel() const { return out_features * in_features; }
};

enum class UnitKind { QKV, O, GateUp, Down, LmHead, Embedding, TiedEmbedding };
const char* unit_kind_name(UnitKind k);  ///< "qkv", "o", "gate_up", "down", "lm_head", "embed", "tied_embed"

/// A group of tensors that always share one quantization format.
struct QuantUnit {
    std::string name;  ///< e.g. "layers.3.qkv", "layers.3.down", "lm_head", "embed_tokens", "tied_embedding"
    UnitKind kind = UnitKind::QKV;
    int layer = -1;
    std::vector<LinearTensor> members;
    int64_t numel() const {
        int64_t n = 0;
        for (const auto& m : members) n += m.numel();
        return n;
    }
};

/// Hugging Face tensor names.
struct TensorNames {
    static std::string embed() { return "model.embed_tokens.weight"; }
    static std::string final_norm() { return "model.norm.weight"; }
    static std::string lm_head() { return "lm_head.weight"; }
    static std::string layer(int i, const char* suffix) { return "model.layers." + std::to_string(i) + "." + suffix; }
    static std::string q(int i) { return layer(i, "self_attn.q_proj.weight"); }
    static std::string k(int i) { return layer(i, "self_attn.k_proj.weight"); }
    static std::string v(int i) { return layer(i, "self_attn.v_proj.weight"); }
    static std::string qkv(int i) { return layer(i, "self_attn.qkv_proj.weight"); }
    static std::string o(int i) { return layer(i, "self_attn.o_proj.weight"); }
    static std::string q_bias(int i) { return layer(i, "self_attn.q_proj.bias"); }
    static std::string k_bias(int i) { return layer(i, "self_attn.k_proj.bias"); }
    static std::string v_bias(int i) { return layer(i, "self_attn.v_proj.bias"); }
    static std::string q_norm(int i) { return layer(i, "self_attn.q_norm.weight"); }
    static std::string k_norm(int i) { return layer(i, "self_attn.k_norm.weight"); }
    static std::string gate(int i) { return layer(i, "mlp.gate_proj.weight"); }
    static std::string up(int i) { return layer(i, "mlp.up_proj.weight"); }
    static std::string gate_up(int i) { return layer(i, "mlp.gate_up_proj.weight"); }
    static std::string down(int i) { return layer(i, "mlp.down_proj.weight"); }
    static std::string input_norm(int i) { return layer(i, "input_layernorm.weight"); }
    static std::string post_norm(int i) { return layer(i, "post_attention_layernorm.weight"); }
};

/// Layout facts that depend on which tensors the file holds (packed qkv_proj, fused gate_up_proj, tied lm_head).
struct ModelLayout {
    bool packed_qkv = false;
    bool fused_gate_up = false;
    bool tied_embeddings = false;  ///< lm_head reads the embedding table
    std::vector<LinearTensor> linears;  ///< every linear weight, in forward order (lm_head last)
    std::vector<QuantUnit> units;       ///< scoring / planning units in forward order
    /// Tensors in the files that transformers does not use either, with the reason (e.g. lm_head.weight when
    /// tie_word_embeddings is true: the embedding table wins, as in transformers). Shown by `mixq info`.
    struct Ignored {
        std::string tensor, reason;
    };
    std::vector<Ignored> ignored;
};

}  // namespace mixq::io
