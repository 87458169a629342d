// SPDX-License-Identifier: MIT
// Transformer: the CPU reference decoder with Hugging Face Llama/Mistral/Qwen2/Qwen3 semantics (fp32 math from
// BF16/F16/F32 weights): RMSNorm, rotate_half RoPE, GQA with per-layer sliding window, SiLU-gated MLP, q/k/v bias,
// q/k norm, tied or separate
// lm_head; batched prefill and incremental decode with a KV cache. Weights come from the memory-mapped model;
// any linear (or the embedding table) can be replaced per tensor by an override (fake-quant weights, a plan).
// Staged calls (embed / run_layer / logits) let the scorer start a pass at any decoder layer.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/kv_cache.h"
#include "core/engine/linear.h"
#include "core/engine/rope.h"
#include "core/engine/rotation.h"
#include "core/io/model.h"

namespace mixq::engine {

struct LayerWeights {
    Vector input_norm, post_norm;
    std::shared_ptr<const Linear> q, k, v, o, gate, up, down;
    Vector q_norm, k_norm;  ///< qwen3, empty otherwise
    uint64_t bytes() const;
};

struct EngineOptions {
    /// true: decoder layers stay resident in fp32 once loaded (full mode). false: each layer is converted when
    /// used and dropped afterwards, and its mmap'd pages are released (low_memory mode).
    bool resident = true;
    /// When set, weights are rotated (and norms folded) every time they are loaded from the file, so a reload in
    /// low_memory mode can never return unrotated weights. Overrides are taken to be in the rotated basis.
    std::shared_ptr<const Rotation> rotation;
    /// true: BF16 / F16 weights are used in place from the mapped file (HalfLinear, the embedding lookup and the
    /// lm_head), never widened as a whole, so a 16-bit model needs about its file size in memory. Tensors with an
    /// override, F32 tensors, and every tensor under a rotation are held in fp32 as before. Without `resident`,
    /// a layer's in-place pages are released when its last linear is dropped. (The Fisher scorer's backward pass
    /// needs DenseLinear layers and keeps this off.)
    bool weights_as_stored = false;
};

/// One sequence of a ragged pass: its rows of the concatenated [sum of T, hidden] matrix and its positions.
struct SeqSpan {
    int64_t row0 = 0;
    int rows = 0;
    int pos0 = 0;              ///< position of its first row (RoPE; with a cache, also where its rows are stored)
    KVCache* cache = nullptr;  ///< attended to and appended at pos0..; nullptr: attends to its own rows only
};

/// One sequence of Transformer::forward_ragged.
struct RaggedSeq {
    std::vector<int> ids;       ///< its new tokens
    KVCache* cache = nullptr;   ///< continued at cache->length (nullptr: a fresh sequence at position 0)
    int logits_from = 0;        ///< logits of new positions [logits_from, ids.size()) come back
};

class Transformer {
public:
    explicit Transformer(std::shared_ptr<const io::Model> model, EngineOptions opt = {});

    const io::Model& model() const { return *m_model; }
    const io::ModelConfig& config() const { return m_model->config(); }
    std::shared_ptr<const io::Model> model_ptr() const { return m_model; }

    /// Logits [T, vocab] for ids at positions cache->length.. (or 0.. without a cache); appends to the cache.
    RowMatrix forward(const std::vector<int>& ids, KVCache* cache = nullptr);
    /// Several sequences as one pass, without padding: their positions are concatenated into one
    /// [sum of T, hidden] matrix, so every linear, norm and the MLP run as one GEMM over all rows; RoPE positions
    /// and attention are per sequence (each attends causally, within its layer's window, to its own positions and
    /// its own cache). Only the asked logits rows are computed (one lm_head GEMM). `cancel` is checked before each
    /// layer and the head. Caches must be distinct. Element i: logits [ids_i.size() - logits_from_i, vocab].
    std::vector<RowMatrix> forward_ragged(const std::vector<RaggedSeq>& seqs, const CancelToken* cancel = nullptr);
    /// A cache sized for `capacity` positions.
    KVCache make_cache(int capacity) const;

    // Staged forward (no cache: a fresh sequence at position 0).
    RowMatrix embed(const std::vector<int>& ids);
    void run_layer(int layer, RowMatrix& hidden, KVCache* cache = nullptr, int pos0 = 0);
    RowMatrix logits(const RowMatrix& hidden);
    /// The normalized input of each linear in a layer, captured during run_layer when set (for scoring).
    struct LayerTaps {
        RowMatrix attn_in;  ///< input of q/k/v (after input_layernorm)
        RowMatrix o_in;     ///< input of o_proj (attention output)
        RowMatrix mlp_in;   ///< input of gate/up (after post_attention_layernorm)
        RowMatrix down_in;  ///< input of down_proj
    };
    void run_layer_tapped(int layer, RowMatrix& hidden, LayerTaps& taps);
    /// The weights of a decoder layer (overrides applied); resident in full mode, freshly converted otherwise.
    std::shared_ptr<const LayerWeights> layer(int layer) { return layer_weights(layer); }
    /// Runs a decoder layer with explicitly given weights (so a streamed layer is converted once for many runs).
    void run_layer_with(const LayerWeights& w, int layer, RowMatrix& hidden, LayerTaps* taps = nullptr) {
        layer_forward(layer, w, hidden, {SeqSpan{0, static_cast<int>(hidden.rows()), 0, nullptr}}, taps);
    }
    /// Logits from final hidden states with an explicit lm_head matrix [V, H] (e.g. the unquantized one).
    RowMatrix logits_with(const RowMatrix& hidden, const RowMatrix& lm_head);
    /// Embedding rows of `ids` from an explicit table.
    static RowMatrix gather_rows(const RowMatrix& table, const std::vector<int>& ids);
    /// Final-norm output (input of lm_head).
    RowMatrix final_hidden(const RowMatrix& hidden);
    /// The final norm's weight (ones when the engine rotates: folded into the lm_head).
    const Vector& final_norm_weight() const { return m_final_norm; }

    /// Replaces a weight (by HF tensor name, [N, K] fp32) for all later passes; e.g. fake-quant weights.
    /// For the tied embedding table, the override applies to both the embedding and the lm_head.
    void set_override(const std::string& tensor, std::shared_ptr<const RowMatrix> weight);
    void clear_override(const std::string& tensor);
    void clear_overrides();
    bool has_overrides() const { return !m_overrides.empty(); }
    /// Int8 activation blocks (ONNX Runtime's MatMulNBits accuracy_level 4, act_quant.h) for the linear that
    /// reads `tensor` (for the tied embedding table: the lm_head); block 0 clears it.
    void set_activation_block(const std::string& tensor, int64_t block);

    /// fp32 copy of a weight from the file (ignores overrides and rotation).
    RowMatrix load_matrix(const std::string& tensor) const;
    /// The weight as the engine uses it without overrides: the file's, rotated when the engine rotates.
    RowMatrix load_effective(const std::string& tensor) const;
    const Rotation* rotation() const { return m_opt.rotation.get(); }
    /// The weight the engine currently uses for `tensor` (override or file).
    std::shared_ptr<const RowMatrix> current_matrix(const std::string& tensor);
    /// Weight bytes streamed per decoded token (all linears + lm_head in fp32).
    uint64_t decode_weight_bytes();

private:
    std::shared_ptr<const io::Model> m_model;
    EngineOptions m_opt;
    Rope m_rope;
    std::vector<std::shared_ptr<const LayerWeights>> m_layers;  ///< resident cache (full mode)
    std::shared_ptr<const RowMatrix> m_embed;                   ///< [V, H]
    std::shared_ptr<const RowMatrix> m_lm_head;                 ///< [V, H] (== m_embed when tied and not overridden)
    Vector m_final_norm;
    std::map<std::string, std::shared_ptr<const RowMatrix>> m_overrides;
    std::map<std::string, int64_t> m_act_blocks;  ///< tensor -> int8 activation block (absent: fp32 input)
    /// 16-bit tensors used in place, checked for NaN / Inf (by stored_half, on the thread building layers).
    mutable std::set<std::string> m_checked_in_place;

    std::shared_ptr<const LayerWeights> layer_weights(int layer);
    /// The raw 16-bit rows of `tensor` when it is used in place (weights_as_stored, 16-bit, no override, no
    /// rotation); nullptr otherwise. *dtype receives its type.
    const uint16_t* stored_half(const std::string& tensor, io::DType* dtype) const;
    /// rows [row0, row0 + nrows) of `tensor` as a linear: in place when stored_half allows, else fp32 from `full`
    /// (loaded on first use and shared between the slices of one packed tensor).
    std::shared_ptr<const Linear> slice_linear(const std::string& tensor, int64_t row0, int64_t nrows,
                                               std::shared_ptr<const RowMatrix>& full, std::optional<Vector> bias);
    std::shared_ptr<const LayerWeights> build_layer(int layer);
    std::shared_ptr<const RowMatrix> weight(const std::string& name);
    int64_t act_block(const std::string& tensor) const;
    const RowMatrix& embed_table();
    const RowMatrix& lm_head_matrix();
    /// logits() of tokens at positions pos0..: non-finite rows stop the job (check_finite_rows).
    RowMatrix head_logits(const RowMatrix& hidden, int pos0);
    RowMatrix unchecked_logits(const RowMatrix& hidden);
    /// Stops the job when `m` (activations after a layer part, or logits: part == nullptr) holds a NaN or an Inf,
    /// naming the model folder, "layer 3 attention output", the position, and the sequence when several share m
    /// (spans in row order, covering m).
    void check_finite(const RowMatrix& m, int layer, const char* part, const std::vector<SeqSpan>& spans) const;
    /// One decoder layer over the rows of `spans` (in row order, covering `hidden`); one span: a single sequence.
    void layer_forward(int layer, const LayerWeights& w, RowMatrix& hidden, const std::vector<SeqSpan>& spans,
                       LayerTaps* taps);
    void invalidate(const std::string& tensor);
};

/// In-place RMSNorm of each row: x * rsqrt(mean(x²) + eps) * weight (fp32, as HF).
void rms_norm_rows(RowMatrix& x, const Vector& weight, float eps);
/// Row-wise log-softmax of logits (numerically stable).
RowMatrix log_softmax_rows(const RowMatrix& logits);

}  // namespace mixq::engine
