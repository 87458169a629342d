// SPDX-License-Identifier: MIT
// CpuScoringEngine: reference pass into the HiddenCache, per-layer taps and variants, propagation and KL on the
// CPU engine.
#include "core/score/cpu_scoring_engine.h"

#include <random>

#include "core/score/kl_divergence.h"
#include "core/score/layer_units.h"
#include "core/score/scoring_driver.h"

namespace mixq::score {
namespace fs = std::filesystem;
using engine::RowMatrix;
using engine::Transformer;

CpuScoringEngine::CpuScoringEngine(std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                                   const ScoreOptions& opt, const JobContext& job, bool fp32_layers)
    : m_model(std::move(model)),
      m_calib(calib),
      m_opt(opt),
      m_job(job),
      m_exact(opt.mode == "exact"),
      m_fp32_layers(fp32_layers) {}

WeightsHeld CpuScoringEngine::weights_held() const {
    // As open() sets EngineOptions::weights_as_stored; the engine holds every tensor in fp32 under a rotation
    // and widens F32 files anyway.
    const bool in_place = m_opt.weights_in_place && !m_fp32_layers && m_opt.rotation == "none" &&
                          m_model->weight_dtype() != io::DType::F32;
    return in_place ? WeightsHeld::HostInPlace : WeightsHeld::HostFp32;
}

void CpuScoringEngine::open(const ScoringSetup& setup, const MemoryDecision& decision,
                            std::shared_ptr<const engine::Rotation> rotation) {
    const auto& cfg = m_model->config();
    m_nseq = setup.nseq;
    m_L = cfg.num_layers;
    m_scale_dtype = setup.scale_dtype;
    engine::EngineOptions eo;
    eo.resident = decision.mode == MemoryMode::Full;
    eo.rotation = std::move(rotation);  // (the engine holds every tensor in fp32 under a rotation)
    eo.weights_as_stored = m_opt.weights_in_place && !m_fp32_layers;
    m_tf = std::make_unique<Transformer>(m_model, eo);
    fs::path off = m_opt.offload_dir.empty() ? fs::temp_directory_path() : m_opt.offload_dir;
    std::random_device rd;
    off /= "mixq-offload-" + std::to_string(rd());
    m_cache = std::make_unique<HiddenCache>(m_L + 1, m_nseq, decision.mode == MemoryMode::Offload, off);
    m_head = m_tf->current_matrix(m_model->layout().tied_embeddings ? io::TensorNames::embed()
                                                                    : io::TensorNames::lm_head());
    if (decision.mode == MemoryMode::Full) m_ref_logp.resize(static_cast<size_t>(m_nseq));
}

const engine::LayerWeights& CpuScoringEngine::visit(int layer) {
    if (m_visit != layer || !m_visit_w) {
        m_visit_w.reset();  // low_memory: one streamed layer at a time
        m_visit_w = m_tf->layer(layer);
        m_visit = layer;
    }
    return *m_visit_w;
}

CpuScoringEngine::Slot& CpuScoringEngine::slot(int i) {
    if (static_cast<size_t>(i) >= m_slots.size()) m_slots.resize(static_cast<size_t>(i) + 1);
    Slot& v = m_slots[static_cast<size_t>(i)];
    if (v.hidden.size() != static_cast<size_t>(m_nseq)) v.hidden.resize(static_cast<size_t>(m_nseq));
    return v;
}

// --- reference pass ---

void CpuScoringEngine::embed_reference(int s) {
    if (m_ref_h.empty()) m_ref_h.resize(static_cast<size_t>(m_nseq));
    RowMatrix& h = m_ref_h[static_cast<size_t>(s)];
    h = m_tf->embed(m_calib.sequences[static_cast<size_t>(s)]);
    m_cache->put(0, s, h);
}

void CpuScoringEngine::reference_layer(int layer, int s) {
    RowMatrix& h = m_ref_h[static_cast<size_t>(s)];
    m_tf->run_layer_with(visit(layer), layer, h);
    m_cache->put(layer + 1, s, h);
}

void CpuScoringEngine::end_reference() {
    if (!m_ref_logp.empty())
        for (int s = 0; s < m_nseq; ++s)
            m_ref_logp[static_cast<size_t>(s)] = log_softmax(m_tf->logits_with(m_ref_h[static_cast<size_t>(s)], *m_head));
    m_ref_h.clear();
    m_visit_w.reset();
}

const RowMatrix& CpuScoringEngine::reference_logp(int s) {
    if (!m_ref_logp.empty()) return m_ref_logp[static_cast<size_t>(s)];
    if (m_logp_s != s) {
        m_logp = log_softmax(m_tf->logits_with(m_cache->get(m_L, s), *m_head));
        m_logp_s = s;
    }
    return m_logp;
}

const RowMatrix& CpuScoringEngine::final_reference(int s) {
    if (m_final_s != s) {
        m_final = m_cache->get(m_L, s);
        m_final_s = s;
    }
    return m_final;
}

// --- a decoder layer's units ---

void CpuScoringEngine::begin_layer(int layer) {
    m_visit_w.reset();
    m_layer = layer;
    m_ref_w = m_tf->layer(layer);
    m_taps.assign(static_cast<size_t>(m_nseq), {});
    m_inputs.assign(static_cast<size_t>(m_nseq), {});  // read once per layer (offload reads files)
    m_ref_out.assign(static_cast<size_t>(m_nseq), {});
    for (int s = 0; s < m_nseq; ++s) m_inputs[static_cast<size_t>(s)] = m_cache->get(layer, s);
    for (int s = 0; s < m_nseq; ++s) {
        RowMatrix h = m_inputs[static_cast<size_t>(s)];
        m_tf->run_layer_with(*m_ref_w, layer, h, &m_taps[static_cast<size_t>(s)]);
        if (!m_exact) m_ref_out[static_cast<size_t>(s)] = std::move(h);
    }
}

std::vector<float> CpuScoringEngine::tap_importance(io::UnitKind kind) {
    std::vector<const RowMatrix*> xs;
    for (const auto& t : m_taps) xs.push_back(&tap_for(t, kind));
    return channel_importance(xs);
}

OutputError CpuScoringEngine::make_layer_variant(int i, const io::QuantUnit& unit, const quant::QuantFormat& format,
                                                 const float* importance) {
    Slot& v = slot(i);
    v.weights = *m_ref_w;
    std::vector<const RowMatrix*> xs;
    for (const auto& t : m_taps) xs.push_back(&tap_for(t, unit.kind));
    OutputError err;
    for (const auto& m : unit.members) {
        const RowMatrix w = member_weight(*m_ref_w, m.role);
        const RowMatrix wq =
            quantize_for_scoring(*m_model, "tensor '" + m.name + "'", w, format, m_scale_dtype, importance, m_job);
        accumulate_output_error(xs, w, wq, err, m_job);
        replace_member(v.weights, m.role, wq);
    }
    return err;
}

void CpuScoringEngine::run_variant_layer(int i, int s) {
    Slot& v = slot(i);
    RowMatrix h = m_inputs[static_cast<size_t>(s)];
    m_tf->run_layer_with(v.weights, m_layer, h);
    v.hidden[static_cast<size_t>(s)] = std::move(h);
}

void CpuScoringEngine::drop_variant_weights(int i) { slot(i).weights = engine::LayerWeights{}; }

void CpuScoringEngine::release_taps() {
    m_taps.clear();
    m_inputs.clear();
    m_ref_w.reset();
}

void CpuScoringEngine::propagate(int i, int layer, int s) {
    m_tf->run_layer_with(visit(layer), layer, slot(i).hidden[static_cast<size_t>(s)]);
}

double CpuScoringEngine::variant_kl(int i, int s) {
    RowMatrix& h = slot(i).hidden[static_cast<size_t>(s)];
    const RowMatrix& ref = reference_logp(s);
    RowMatrix final_h;
    if (m_exact) {
        final_h = std::move(h);
    } else {  // residual shortcut: the layer's output change carried unchanged to the final residual stream
        final_h = final_reference(s) + (h - m_ref_out[static_cast<size_t>(s)]);
    }
    const double kl = kl_sum(ref, m_tf->logits_with(final_h, *m_head));
    h = RowMatrix();
    return kl;
}

// --- lm_head / embedding units ---

std::shared_ptr<const RowMatrix> CpuScoringEngine::host_matrix(const std::string& tensor) {
    return m_tf->current_matrix(tensor);
}

void CpuScoringEngine::make_finals() {
    if (!m_finals.empty()) return;
    for (int s = 0; s < m_nseq; ++s) m_finals.push_back(m_tf->final_hidden(m_cache->get(m_L, s)));
}

std::vector<float> CpuScoringEngine::head_importance() {
    make_finals();
    std::vector<const RowMatrix*> xs;
    for (const auto& f : m_finals) xs.push_back(&f);
    return channel_importance(xs);
}

void CpuScoringEngine::set_table_variant(const io::QuantUnit& unit, const RowMatrix& wq) {
    m_tab_head = unit.kind == io::UnitKind::LmHead || unit.kind == io::UnitKind::TiedEmbedding;
    m_tab_embed = unit.kind == io::UnitKind::Embedding || unit.kind == io::UnitKind::TiedEmbedding;
    m_tab_ref = m_tf->current_matrix(unit.members[0].name);
    m_tab_q = wq;
    if (m_tab_head) {
        make_finals();
        m_tab_dw = *m_tab_ref - m_tab_q;
    } else {
        m_tab_dw = RowMatrix();
    }
}

void CpuScoringEngine::embed_variant(int s) {
    slot(0).hidden[static_cast<size_t>(s)] = Transformer::gather_rows(m_tab_q, m_calib.sequences[static_cast<size_t>(s)]);
}

double CpuScoringEngine::table_variant_kl(int s, OutputError& head_error) {
    const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
    RowMatrix final_h;
    if (!m_tab_embed) {
        final_h = m_cache->get(m_L, s);
    } else if (m_exact) {
        final_h = std::move(slot(0).hidden[static_cast<size_t>(s)]);
    } else {  // fast: the embedding change carried unchanged to the final residual stream
        final_h = m_cache->get(m_L, s) + (Transformer::gather_rows(m_tab_q, seq) - Transformer::gather_rows(*m_tab_ref, seq));
    }
    if (m_tab_head) {
        m_job.check_cancel();
        add_output_error(m_finals[static_cast<size_t>(s)], *m_tab_ref, m_tab_dw, head_error);
    }
    return kl_sum(reference_logp(s), m_tf->logits_with(final_h, m_tab_head ? m_tab_q : *m_head));
}

}  // namespace mixq::score
