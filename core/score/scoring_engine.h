// SPDX-License-Identifier: MIT
// ScoringEngine: the building blocks that the one scoring driver (scoring_driver.h) asks of a device — the CPU
// engine (cpu_scoring_engine.h) or the CUDA decoder (gpu/cuda_scorer.h). The driver owns the order of the work,
// the scores, progress and cancel; an engine owns where weights, cached hidden states and logits live. Sequences
// are indexed 0..nseq-1 of the calibration slice; a "slot" holds one variant's hidden states for every sequence.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/rotation.h"
#include "core/engine/tensor.h"
#include "core/io/model_layout.h"
#include "core/quant/quant_format.h"
#include "core/score/memory_mode.h"

namespace mixq::score {

struct ScoringSetup;

/// Σ‖X·ΔWᵀ‖² (num) and Σ‖X·Wᵀ‖² (den): a variant's output error on its calibration inputs.
struct OutputError {
    double num = 0, den = 0;
};

class ScoringEngine {
public:
    virtual ~ScoringEngine() = default;

    // --- placement ---
    /// The backend's name for ScoreOptions::on_placement ("cpu", "cuda").
    virtual std::string backend_name() const = 0;
    /// Free bytes of each accelerator the memory decision weighs (empty: the host's memory is the budget); fails
    /// when the model cannot be scored here. Called once, after prepare_scoring.
    virtual std::vector<uint64_t> device_free_bytes(const ScoringSetup& setup) = 0;
    /// True when it runs MemoryMode::MultiGpu.
    virtual bool runs_multi_gpu() const = 0;
    /// How its full mode holds the weights (which Footprint figure the memory decision weighs).
    virtual WeightsHeld weights_held() const { return WeightsHeld::Fp32; }
    /// Loads the model as `decision` says, with `rotation` (null: none), ready for nseq sequences.
    virtual void open(const ScoringSetup& setup, const MemoryDecision& decision,
                      std::shared_ptr<const engine::Rotation> rotation) = 0;
    /// ScoreTable::device after open(): "cpu", "cuda:0 (NVIDIA H200)", "cuda:0 (…) + cuda:1 (…)".
    virtual std::string device_label() const = 0;

    // --- reference pass: the residual stream entering each layer (and the final one), cached ---
    virtual void embed_reference(int s) = 0;
    /// Runs layer `layer` on sequence s's cached input (call layer by layer, every sequence of a layer in turn).
    virtual void reference_layer(int layer, int s) = 0;
    /// After the last layer: anything kept for the comparisons (e.g. the reference log-probs in full mode).
    virtual void end_reference() = 0;

    // --- a decoder layer's units ---
    /// How many variants' hidden states it holds at once (≥ 1): a layer's variants are made and carried in
    /// groups of this size.
    virtual int variant_slots() const = 0;
    /// Loads layer `layer`'s reference weights and captures the inputs of its linears for every sequence.
    virtual void begin_layer(int layer) = 0;
    /// Mean x² per input channel of the captured inputs of `kind`'s linear (k-quant importance).
    virtual std::vector<float> tap_importance(io::UnitKind kind) = 0;
    /// Slot `slot` becomes the current layer with `unit`'s members quantized as `format` (`importance` for
    /// k-quant, else null); returns the unit's output error on the captured inputs.
    virtual OutputError make_layer_variant(int slot, const io::QuantUnit& unit, const quant::QuantFormat& format,
                                           const float* importance) = 0;
    /// Slot's hidden state of sequence s = the slot's variant layer run on the layer's cached input.
    virtual void run_variant_layer(int slot, int s) = 0;
    /// The slot's variant weights are no longer needed (its hidden states are).
    virtual void drop_variant_weights(int slot) = 0;
    /// The captured inputs are no longer needed (every variant of the layer is made).
    virtual void release_taps() = 0;
    /// Runs the reference layer `layer` on the slot's hidden state of sequence s (exact mode, layer by layer).
    virtual void propagate(int slot, int layer, int s) = 0;
    /// Σ_t KL(reference ‖ slot) over sequence s's tokens: the slot's stream at the lm_head (exact), or the final
    /// reference stream plus the slot's change of the current layer's output (fast). Frees the slot's state of s.
    virtual double variant_kl(int slot, int s) = 0;

    // --- lm_head / embedding units: tables quantized on the host ---
    /// The host matrix of `tensor` as the engine computes with it (rotated when a rotation is applied).
    virtual std::shared_ptr<const engine::RowMatrix> host_matrix(const std::string& tensor) = 0;
    /// Mean x² per channel of the final-norm outputs (the lm_head's inputs).
    virtual std::vector<float> head_importance() = 0;
    /// The candidate table `wq` of `unit` (lm_head, embedding or both when tied) for the calls below.
    virtual void set_table_variant(const io::QuantUnit& unit, const engine::RowMatrix& wq) = 0;
    /// Slot 0's hidden state of sequence s = the candidate embedding rows of its tokens (exact mode).
    virtual void embed_variant(int s) = 0;
    /// Sequence s with the candidate table: Σ_t KL against the reference (its stream: the reference final stream;
    /// slot 0's, exact embedding; the final stream plus the embedding change, fast embedding) and, where the
    /// table is the lm_head, its output error on the reference final-norm outputs.
    virtual double table_variant_kl(int s, OutputError& head_error) = 0;
};

}  // namespace mixq::score
