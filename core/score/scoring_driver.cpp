// SPDX-License-Identifier: MIT
// run_scoring: reference pass, the lm_head/embedding units, then per decoder layer its variants made in groups of
// the engine's slots, carried through the later layers (exact) and compared with the reference at the lm_head.
#include "core/score/scoring_driver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/engine/transformer.h"
#include "core/quant/quantizer.h"

namespace mixq::score {
using engine::RowMatrix;

engine::RowMatrix quantize_for_scoring(const io::Model& model, const std::string& what, const RowMatrix& w,
                                       const quant::QuantFormat& format, io::DType scale_dtype,
                                       const float* importance, const JobContext& job) {
    try {
        return quant::fake_quantize(w, format, scale_dtype, importance, &job.token());
    } catch (const Error& e) {
        fail(model.dir().string(), what + ": " + e.what());
    }
}

ScoringSetup open_scoring(ScoringEngine& engine, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                          const ScoreOptions& opt, const JobContext& job) {
    ScoringSetup su = prepare_scoring(*model, calib, opt, job);
    const int L = model->config().num_layers;
    const std::vector<uint64_t> device_free = engine.device_free_bytes(su);
    su.footprint.held = engine.weights_held();
    const MemoryDecision d = choose_memory_mode(opt.memory, su.footprint, host_available_memory(), device_free, L,
                                                static_cast<uint64_t>(su.largest_layer_params) * 4);
    if (d.mode == MemoryMode::MultiGpu && !engine.runs_multi_gpu())
        fail("", "memory mode multi_gpu scores on CUDA devices (--device cuda)");
    su.table.memory_mode = memory_mode_name(d.mode);
    su.table.memory_reason = d.reason;
    job.log(d.reason);
    if (opt.on_placement) opt.on_placement(engine.backend_name(), su.table.memory_mode, d.reason);
    engine.open(su, d, make_rotation(model, opt, su.table, job));
    su.table.device = engine.device_label();
    return su;
}

void run_reference_pass(ScoringEngine& engine, const ScoringSetup& setup, int num_layers, ScoringProgress& progress) {
    for (int s = 0; s < setup.nseq; ++s) engine.embed_reference(s);
    for (int l = 0; l < num_layers; ++l) {
        progress.set_item("reference pass, layer " + std::to_string(l));
        for (int s = 0; s < setup.nseq; ++s) {
            engine.reference_layer(l, s);
            progress.step(1);
        }
    }
    engine.end_reference();
}

namespace {

class Driver {
public:
    Driver(ScoringEngine& engine, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
           const ScoreOptions& opt, const JobContext& job)
        : m_eng(engine), m_model(std::move(model)), m_calib(calib), m_opt(opt), m_job(job), m_progress(job),
          m_exact(opt.mode == "exact") {}

    ScoreTable run() {
        const auto t0 = std::chrono::steady_clock::now();
        m_su = open_scoring(m_eng, m_model, m_calib, m_opt, m_job);
        m_L = m_model->config().num_layers;
        m_progress.set_total(work_total());
        run_reference_pass(m_eng, m_su, m_L, m_progress);
        // Head units first: they are cheap and the lm_head/tied table is often the most sensitive.
        score_table_units();
        for (const auto& [l, us] : m_su.by_layer) score_layer(l, us);
        m_progress.finish();
        m_su.table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return std::move(m_su.table);
    }

private:
    ScoringEngine& m_eng;
    std::shared_ptr<const io::Model> m_model;
    const CalibrationSet& m_calib;
    const ScoreOptions& m_opt;
    const JobContext& m_job;
    ScoringProgress m_progress;
    const bool m_exact;
    ScoringSetup m_su;
    int m_L = 0;

    /// Work units: a layer run on one sequence, or one sequence's logits compared with the reference.
    double work_total() const {
        const double C = static_cast<double>(m_su.table.candidates.size());
        double total = static_cast<double>(m_L) * m_su.nseq;  // reference pass
        for (const auto& [l, us] : m_su.by_layer) {
            const double downstream = m_exact ? m_L - l - 1 : 0;  // variant layer + later layers + comparison
            total += static_cast<double>(us.size()) * C * m_su.nseq * (2 + downstream);
        }
        for (size_t u : m_su.head_units) {
            const bool embed = m_model->layout().units[u].kind != io::UnitKind::LmHead;
            total += C * m_su.nseq * (embed && m_exact ? m_L + 1 : 1);
        }
        return total;
    }

    void set_candidate(size_t u, size_t c, double kld_sum, const OutputError& err) {
        auto& cs = m_su.table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_su.tokens);
        cs.rel_err = err.den > 0 ? std::sqrt(err.num / err.den) : 0.0;
        engine::check_finite_value(cs.kld, m_model->dir().string(), "KLD of unit '" + m_su.table.units[u].name + "' as " + cs.format.name());
        engine::check_finite_value(cs.rel_err, m_model->dir().string(),
                                   "relative output error of unit '" + m_su.table.units[u].name + "' as " + cs.format.name());
    }
    /// What a non-finite value met while computing a variant stopped (engine::NonFiniteStep).
    std::string step_of(size_t unit, size_t cand) const {
        return engine::kld_step(m_su.table.units[unit].name, m_su.table.candidates[cand].name());
    }
    void finish_unit(size_t u) {
        if (m_opt.on_unit) m_opt.on_unit(m_su.table.units[u]);
    }

    void score_layer(int layer, const std::vector<size_t>& units);
    void score_table_units();
};

void Driver::score_layer(int layer, const std::vector<size_t>& units) {
    const auto& cands = m_su.table.candidates;
    const auto& layout = m_model->layout();
    m_progress.set_item("layer " + std::to_string(layer) + " inputs");
    m_eng.begin_layer(layer);
    struct Pending {
        size_t unit, cand;
        OutputError err;
    };
    std::vector<Pending> all;
    std::map<size_t, int> remaining;  // candidates of a unit not yet scored
    for (size_t u : units)
        for (size_t c = 0; c < cands.size(); ++c) {
            all.push_back({u, c, {}});
            ++remaining[u];
        }
    std::map<size_t, std::vector<float>> importance;  // per unit, made for its first k-quant candidate
    const size_t slots = static_cast<size_t>(std::max(1, m_eng.variant_slots()));
    for (size_t g0 = 0; g0 < all.size(); g0 += slots) {
        const size_t g1 = std::min(all.size(), g0 + slots);
        for (size_t i = g0; i < g1; ++i) {
            Pending& v = all[i];
            const auto& unit = layout.units[v.unit];
            const auto& f = cands[v.cand];
            m_progress.set_item(unit.name + " " + f.name());
            const float* imp = nullptr;
            if (f.method == quant::Method::KQuant) {
                auto it = importance.find(v.unit);
                if (it == importance.end()) it = importance.emplace(v.unit, m_eng.tap_importance(unit.kind)).first;
                imp = it->second.data();
            }
            const int slot = static_cast<int>(i - g0);
            const engine::NonFiniteStep kld_of(engine::kld_step(unit.name, f.name()));  // names it in a deep check
            v.err = m_eng.make_layer_variant(slot, unit, f, imp);
            for (int s = 0; s < m_su.nseq; ++s) {
                m_eng.run_variant_layer(slot, s);
                m_progress.step(1);
            }
            m_eng.drop_variant_weights(slot);  // only its hidden states travel on
        }
        if (g1 == all.size()) m_eng.release_taps();
        if (m_exact)
            for (int l = layer + 1; l < m_L; ++l) {
                m_progress.set_item("layer " + std::to_string(layer) + " variants through layer " + std::to_string(l));
                for (size_t i = g0; i < g1; ++i) {
                    const engine::NonFiniteStep kld_of(step_of(all[i].unit, all[i].cand));
                    for (int s = 0; s < m_su.nseq; ++s) {
                        m_eng.propagate(static_cast<int>(i - g0), l, s);
                        m_progress.step(1);
                    }
                }
            }
        std::vector<double> kl(g1 - g0, 0.0);
        for (int s = 0; s < m_su.nseq; ++s)  // sequence-major: one reference per sequence for the whole group
            for (size_t i = g0; i < g1; ++i) {
                const engine::NonFiniteStep kld_of(step_of(all[i].unit, all[i].cand));
                kl[i - g0] += m_eng.variant_kl(static_cast<int>(i - g0), s);
                m_progress.step(1);
            }
        for (size_t i = g0; i < g1; ++i) {
            const Pending& v = all[i];
            set_candidate(v.unit, v.cand, kl[i - g0], v.err);
            if (--remaining[v.unit] == 0) finish_unit(v.unit);
        }
    }
}

void Driver::score_table_units() {
    const auto& cands = m_su.table.candidates;
    std::vector<float> head_importance;
    for (size_t u : m_su.head_units) {
        const auto& unit = m_model->layout().units[u];
        const bool uses_head = unit.kind == io::UnitKind::LmHead || unit.kind == io::UnitKind::TiedEmbedding;
        const bool uses_embed = unit.kind == io::UnitKind::Embedding || unit.kind == io::UnitKind::TiedEmbedding;
        const std::string tensor = unit.members[0].name;
        const auto w = m_eng.host_matrix(tensor);
        for (size_t c = 0; c < cands.size(); ++c) {
            m_progress.set_item(unit.name + " " + cands[c].name());
            const engine::NonFiniteStep kld_of(engine::kld_step(unit.name, cands[c].name()));
            const bool weighted = cands[c].method == quant::Method::KQuant && uses_head;
            if (weighted && head_importance.empty()) head_importance = m_eng.head_importance();
            const RowMatrix wq = quantize_for_scoring(*m_model, "tensor '" + tensor + "'", *w, cands[c],
                                                      m_su.scale_dtype, weighted ? head_importance.data() : nullptr,
                                                      m_job);
            m_eng.set_table_variant(unit, wq);
            OutputError err;
            if (!uses_head) {  // embedding gather: relative error of the gathered rows
                for (const auto& seq : m_calib.sequences) {
                    const RowMatrix a = engine::Transformer::gather_rows(*w, seq);
                    const RowMatrix b = engine::Transformer::gather_rows(wq, seq);
                    err.num += (a - b).squaredNorm();
                    err.den += a.squaredNorm();
                }
            }
            if (uses_embed && m_exact) {  // the candidate embedding through every layer
                for (int s = 0; s < m_su.nseq; ++s) m_eng.embed_variant(s);
                for (int l = 0; l < m_L; ++l)
                    for (int s = 0; s < m_su.nseq; ++s) {
                        m_eng.propagate(0, l, s);
                        m_progress.step(1);
                    }
            }
            double kl = 0;
            for (int s = 0; s < m_su.nseq; ++s) {
                kl += m_eng.table_variant_kl(s, err);
                m_progress.step(1);
            }
            set_candidate(u, c, kl, err);
        }
        finish_unit(u);
    }
}

}  // namespace

ScoreTable run_scoring(ScoringEngine& engine, std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                       const ScoreOptions& opt, const JobContext& job) {
    Driver d(engine, std::move(model), calib, opt, job);
    return d.run();
}

}  // namespace mixq::score
