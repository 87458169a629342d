// SPDX-License-Identifier: MIT
// Reverse-mode derivatives (vector-Jacobian products) of the engine's decoder layer and output head, for
// gradient-based sensitivity estimates: a forward pass that records what the backward pass needs (LayerTape), the
// gradient of a decoder layer's input from the gradient of its output (with the gradient at every linear's output,
// which with the recorded inputs gives the weight gradients), and the head's backward from logits to the final
// residual stream. Same semantics as Transformer::run_layer_with (no KV cache: one sequence from position 0).
#pragma once
#include <vector>

#include "core/engine/rope.h"
#include "core/engine/transformer.h"

namespace mixq::engine {

/// What one decoder layer's backward pass needs from its forward pass.
struct LayerTape {
    RowMatrix input;                ///< residual stream entering the layer
    RowMatrix q_raw, k_raw;         ///< q/k projections before q/k norm (qwen3) and RoPE
    RowMatrix q, k, v;              ///< after q/k norm and RoPE
    std::vector<RowMatrix> probs;   ///< per query head: attention probabilities [T, T]
    Transformer::LayerTaps taps;    ///< the inputs of q/k/v, o, gate/up and down
    RowMatrix mid;                  ///< residual stream after the attention block
    RowMatrix gate, up;             ///< gate/up projections (before silu · up)
};

/// Gradients at the outputs of a layer's linears (row t = token t); weight gradient of a linear = δᵀ·(its input).
struct LinearGrads {
    RowMatrix q, k, v, o, gate, up, down;
};

/// Runs decoder layer `layer` on `hidden` (in place) and records its tape.
void layer_forward_taped(const io::ModelConfig& c, const Rope& rope, const LayerWeights& w, int layer,
                         RowMatrix& hidden, LayerTape& tape);

/// Given dL/d(layer output), returns dL/d(layer input); fills the gradients at the linears' outputs when `grads`.
RowMatrix layer_backward(const io::ModelConfig& c, const Rope& rope, const LayerWeights& w, int layer,
                         const LayerTape& tape, const RowMatrix& grad_out, LinearGrads* grads = nullptr);

/// dL/dx of y = rms_norm(x) · weight given dL/dy (row-wise).
RowMatrix rms_norm_backward(const RowMatrix& x, const Vector& weight, float eps, const RowMatrix& grad_y);

/// Inverse (= transpose) of Rope::apply on each row: the gradient through the rotation.
void rope_backward(const Rope& rope, int head_dim, RowMatrix& grad, int n_heads, int pos0 = 0);

/// dL/d(final residual stream) given dL/d(logits) for logits = final_norm(hidden) · lm_headᵀ.
RowMatrix head_backward(Transformer& tf, const RowMatrix& hidden, const RowMatrix& lm_head, const RowMatrix& grad_logits);

}  // namespace mixq::engine
