// SPDX-License-Identifier: MIT
// CpuScoringEngine: the scoring building blocks (scoring_engine.h) on the CPU engine (engine::Transformer) — the
// residual stream cached per layer in a HiddenCache (RAM, or files in offload mode), layers resident (full) or
// converted as visited (low_memory, offload), every variant of a layer held at once so each later layer is
// converted once per visit. BF16 / F16 layers are read in place (ScoreOptions::weights_in_place): only the unit
// under test is widened to fp32. The Fisher estimate reuses its model, cache and reference log-probs.
#pragma once
#include <memory>
#include <vector>

#include "core/common/job.h"
#include "core/engine/transformer.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/hidden_cache.h"
#include "core/score/scorer.h"
#include "core/score/scoring_engine.h"

namespace mixq::score {

class CpuScoringEngine : public ScoringEngine {
public:
    /// fp32_layers: decoder layers as fp32 DenseLinear whatever opt.weights_in_place says (the Fisher estimate's
    /// backward pass reads them).
    CpuScoringEngine(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                     const JobContext& job, bool fp32_layers = false);

    std::string backend_name() const override { return "cpu"; }
    std::vector<uint64_t> device_free_bytes(const ScoringSetup&) override { return {}; }
    bool runs_multi_gpu() const override { return false; }
    /// HostInPlace when open() will read 16-bit layers in place, else HostFp32.
    WeightsHeld weights_held() const override;
    void open(const ScoringSetup& setup, const MemoryDecision& decision,
              std::shared_ptr<const engine::Rotation> rotation) override;
    std::string device_label() const override { return "cpu"; }

    void embed_reference(int s) override;
    void reference_layer(int layer, int s) override;
    void end_reference() override;

    int variant_slots() const override { return 1 << 30; }  // all of a layer's variants
    void begin_layer(int layer) override;
    std::vector<float> tap_importance(io::UnitKind kind) override;
    OutputError make_layer_variant(int slot, const io::QuantUnit& unit, const quant::QuantFormat& format,
                                   const float* importance) override;
    void run_variant_layer(int slot, int s) override;
    void drop_variant_weights(int slot) override;
    void release_taps() override;
    void propagate(int slot, int layer, int s) override;
    double variant_kl(int slot, int s) override;

    std::shared_ptr<const engine::RowMatrix> host_matrix(const std::string& tensor) override;
    std::vector<float> head_importance() override;
    void set_table_variant(const io::QuantUnit& unit, const engine::RowMatrix& wq) override;
    void embed_variant(int s) override;
    double table_variant_kl(int s, OutputError& head_error) override;

    // For the Fisher estimate (after open and the reference pass).
    engine::Transformer& transformer() { return *m_tf; }
    const HiddenCache& cache() const { return *m_cache; }
    /// The unquantized lm_head (or tied embedding table).
    const engine::RowMatrix& head() const { return *m_head; }
    /// Reference log-probs of sequence s (kept in full mode, else computed from the final cached stream).
    const engine::RowMatrix& reference_logp(int s);

private:
    struct Slot {
        engine::LayerWeights weights;
        std::vector<engine::RowMatrix> hidden;  ///< per sequence
    };
    std::shared_ptr<const io::Model> m_model;
    const CalibrationSet& m_calib;
    const ScoreOptions& m_opt;
    const JobContext& m_job;
    bool m_exact;
    bool m_fp32_layers;
    int m_nseq = 0, m_L = 0;
    io::DType m_scale_dtype = io::DType::BF16;
    std::unique_ptr<engine::Transformer> m_tf;
    std::unique_ptr<HiddenCache> m_cache;
    std::shared_ptr<const engine::RowMatrix> m_head;
    std::vector<engine::RowMatrix> m_ref_logp;  ///< full mode only
    std::vector<engine::RowMatrix> m_ref_h;     ///< the reference pass's running stream
    int m_logp_s = -1;                          ///< sequence of m_logp (outside full mode)
    engine::RowMatrix m_logp;
    int m_final_s = -1;                         ///< sequence of m_final (fast mode's final reference stream)
    engine::RowMatrix m_final;
    int m_visit = -1;                           ///< layer of m_visit_w (reference pass, propagation)
    std::shared_ptr<const engine::LayerWeights> m_visit_w;

    // The current layer's units.
    int m_layer = -1;
    std::shared_ptr<const engine::LayerWeights> m_ref_w;
    std::vector<engine::Transformer::LayerTaps> m_taps;  ///< per sequence
    std::vector<engine::RowMatrix> m_inputs;             ///< per sequence: the layer's cached input
    std::vector<engine::RowMatrix> m_ref_out;            ///< per sequence, fast mode: the layer's reference output
    std::vector<Slot> m_slots;

    // The current table variant (lm_head / embedding units).
    bool m_tab_head = false, m_tab_embed = false;
    std::shared_ptr<const engine::RowMatrix> m_tab_ref;
    engine::RowMatrix m_tab_q, m_tab_dw;
    std::vector<engine::RowMatrix> m_finals;  ///< final-norm outputs: the lm_head's inputs (made on first use)

    const engine::LayerWeights& visit(int layer);
    Slot& slot(int i);
    void make_finals();
    const engine::RowMatrix& final_reference(int s);
};

}  // namespace mixq::score
