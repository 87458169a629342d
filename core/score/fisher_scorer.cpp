// SPDX-License-Identifier: MIT
// score_model_fisher: the scoring driver's setup and reference pass on a CpuScoringEngine (open_scoring,
// run_reference_pass), then self-sampled label gradients at the logits, backward layer by layer with each layer's
// units scored from its diagonal Fisher as soon as the layer is done, then the embedding units.
#include "core/score/fisher_scorer.h"

#include <chrono>
#include <cmath>
#include <unordered_map>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/engine/layer_backward.h"
#include "core/score/cpu_scoring_engine.h"
#include "core/score/fisher.h"
#include "core/score/kl_divergence.h"
#include "core/score/layer_units.h"
#include "core/score/scoring_driver.h"

namespace mixq::score {
using engine::RowMatrix;
using engine::Transformer;

namespace {

class FisherScorer {
public:
    FisherScorer(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                 const JobContext& job)
        : m_model(std::move(model)),
          m_calib(calib),
          m_opt(opt),
          m_job(job),
          m_engine(m_model, calib, opt, job, /*fp32_layers=*/true),
          m_progress(job) {}
    ScoreTable run();

private:
    std::shared_ptr<const io::Model> m_model;
    const CalibrationSet& m_calib;
    const ScoreOptions& m_opt;
    const JobContext& m_job;
    /// The model, hidden cache and reference log-probs (the driver's setup); fp32 layers (layer_backward reads
    /// DenseLinear weights), so the Fisher estimate does not read BF16 / F16 weights in place.
    CpuScoringEngine m_engine;
    ScoringProgress m_progress;
    Transformer* m_tf = nullptr;
    ScoreTable m_table;
    io::DType m_scale_dtype = io::DType::BF16;
    int m_nseq = 0, m_samples = 1;
    int64_t m_tokens = 0;
    std::vector<std::vector<RowMatrix>> m_grad;  ///< [seq][sample]: dL/d(residual stream) at the current level
    std::vector<double> m_head_kl;               ///< per candidate: exact KL of a tied table's lm_head use

    void step(double work) { m_progress.step(work); }
    void set_item(std::string item) { m_progress.set_item(std::move(item)); }
    RowMatrix quantize_named(const std::string& tensor, const RowMatrix& w, const quant::QuantFormat& f,
                             const float* importance) const {
        return quantize_for_scoring(*m_model, "tensor '" + tensor + "'", w, f, m_scale_dtype, importance, m_job);
    }
    void set_candidate(size_t u, size_t c, double kld_sum, double num, double den) {
        auto& cs = m_table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_tokens);
        cs.rel_err = den > 0 ? std::sqrt(num / den) : 0.0;
        engine::check_finite_value(cs.kld, m_model->dir().string(), "KLD of unit '" + m_table.units[u].name + "' as " + cs.format.name());
    }
    void finish_unit(size_t u) {
        if (m_opt.on_unit) m_opt.on_unit(m_table.units[u]);
    }
    void head_pass(const std::vector<size_t>& head_units);
    void backward_layer(int layer, const std::vector<size_t>& units);
    void score_embedding_units(const std::vector<size_t>& units);
};

void FisherScorer::head_pass(const std::vector<size_t>& head_units) {
    const int L = m_tf->config().num_layers;
    const auto& cands = m_table.candidates;
    const RowMatrix& head = m_engine.head();
    std::vector<RowMatrix> finals(static_cast<size_t>(m_nseq));
    for (int s = 0; s < m_nseq; ++s) finals[static_cast<size_t>(s)] = m_engine.cache().get(L, s);
    // Per sequence: reference log-probs, the lm_head's exact variants, the label samples' gradients.
    std::vector<const RowMatrix*> xs;
    std::vector<RowMatrix> normed;
    for (int s = 0; s < m_nseq; ++s) normed.push_back(m_tf->final_hidden(finals[static_cast<size_t>(s)]));
    for (const auto& x : normed) xs.push_back(&x);
    const std::vector<float> head_importance = channel_importance(xs);
    struct HeadVariant {
        size_t unit, cand;
        RowMatrix wq;
        double kl = 0, num = 0, den = 0;
    };
    std::vector<HeadVariant> hv;
    for (size_t u : head_units) {
        const auto& unit = m_model->layout().units[u];
        if (unit.kind != io::UnitKind::LmHead && unit.kind != io::UnitKind::TiedEmbedding) continue;
        for (size_t c = 0; c < cands.size(); ++c) {
            set_item(unit.name + " " + cands[c].name());
            const bool weighted = cands[c].method == quant::Method::KQuant;
            HeadVariant v{u, c, quantize_named(unit.members[0].name, head, cands[c],
                                               weighted ? head_importance.data() : nullptr)};
            OutputError e;
            accumulate_output_error(xs, head, v.wq, e, m_job);
            v.num = e.num;
            v.den = e.den;
            hv.push_back(std::move(v));
        }
    }
    m_grad.assign(static_cast<size_t>(m_nseq), std::vector<RowMatrix>(static_cast<size_t>(m_samples)));
    for (int s = 0; s < m_nseq; ++s) {
        set_item("output gradients, sequence " + std::to_string(s));
        const RowMatrix& ref = m_engine.reference_logp(s);
        for (auto& v : hv) {
            const engine::NonFiniteStep kld_of(engine::kld_step(m_model->layout().units[v.unit].name, cands[v.cand].name()));
            v.kl += kl_sum(ref, m_tf->logits_with(finals[static_cast<size_t>(s)], v.wq));
            step(1);
        }
        for (int r = 0; r < m_samples; ++r) {
            const uint64_t seed = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(s * 1000 + r + 1);
            m_grad[static_cast<size_t>(s)][static_cast<size_t>(r)] = engine::head_backward(
                *m_tf, finals[static_cast<size_t>(s)], head, sampled_label_grad(ref, seed));
            step(1);
        }
    }
    m_head_kl.assign(cands.size(), 0.0);
    for (const auto& v : hv) {
        if (m_model->layout().units[v.unit].kind == io::UnitKind::TiedEmbedding) {
            m_head_kl[v.cand] = v.kl;  // completed with the embedding part at the end
            m_table.units[v.unit].candidates[v.cand].rel_err = v.den > 0 ? std::sqrt(v.num / v.den) : 0.0;
            continue;
        }
        set_candidate(v.unit, v.cand, v.kl, v.num, v.den);
    }
    for (size_t u : head_units)
        if (m_model->layout().units[u].kind == io::UnitKind::LmHead) finish_unit(u);
}

void FisherScorer::backward_layer(int layer, const std::vector<size_t>& units) {
    const auto& cfg = m_tf->config();
    const auto& cands = m_table.candidates;
    const engine::Rope rope(cfg);
    auto w = m_tf->layer(layer);
    LayerFisher fisher;
    fisher.samples = m_samples;
    std::vector<Transformer::LayerTaps> taps(static_cast<size_t>(m_nseq));
    for (int s = 0; s < m_nseq; ++s) {
        set_item("backward pass, layer " + std::to_string(layer));
        engine::LayerTape tape;
        RowMatrix h = m_engine.cache().get(layer, s);
        engine::layer_forward_taped(cfg, rope, *w, layer, h, tape);
        for (int r = 0; r < m_samples; ++r) {
            engine::LinearGrads lg;
            auto& g = m_grad[static_cast<size_t>(s)][static_cast<size_t>(r)];
            g = engine::layer_backward(cfg, rope, *w, layer, tape, g, &lg);
            fisher.add(lg, tape.taps);
            step(1);
        }
        taps[static_cast<size_t>(s)] = std::move(tape.taps);
    }
    w.reset();  // low_memory: the layer's weights go before its variants are made
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        std::vector<const RowMatrix*> xs;
        for (const auto& t : taps) xs.push_back(&tap_for(t, unit.kind));
        const std::vector<float> importance = channel_importance(xs);
        std::vector<std::shared_ptr<const RowMatrix>> member_w;  // as stored (packed tensors whole)
        for (const auto& m : unit.members) member_w.push_back(m_tf->current_matrix(m.name));
        for (size_t c = 0; c < cands.size(); ++c) {
            set_item(unit.name + " " + cands[c].name());
            double kl = 0, num = 0, den = 0;
            for (size_t i = 0; i < unit.members.size(); ++i) {
                const RowMatrix wq = quantize_named(unit.members[i].name, *member_w[i], cands[c],
                                                    cands[c].method == quant::Method::KQuant ? importance.data() : nullptr);
                OutputError e{num, den};
                accumulate_output_error(xs, *member_w[i], wq, e, m_job);
                num = e.num;
                den = e.den;
                kl += fisher.member_kld_sum(unit.members[i].role, *member_w[i], wq);
            }
            set_candidate(u, c, kl, num, den);
            step(1);
        }
        for (const auto& m : unit.members) fisher.release(m.role);
        finish_unit(u);
    }
}

void FisherScorer::score_embedding_units(const std::vector<size_t>& units) {
    const auto& cands = m_table.candidates;
    // Diagonal Fisher of the embedding rows: per (sequence, sample) the gradient of each row is the sum of the
    // residual-stream gradients at its positions.
    std::unordered_map<int, Eigen::RowVectorXf> fe;
    for (int s = 0; s < m_nseq; ++s) {
        const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
        for (int r = 0; r < m_samples; ++r) {
            const auto& g = m_grad[static_cast<size_t>(s)][static_cast<size_t>(r)];
            std::unordered_map<int, Eigen::RowVectorXf> row;
            for (size_t t = 0; t < seq.size(); ++t) {
                auto it = row.find(seq[t]);
                if (it == row.end()) row.emplace(seq[t], g.row(static_cast<int64_t>(t)));
                else it->second += g.row(static_cast<int64_t>(t));
            }
            for (auto& [id, v] : row) {
                auto it = fe.find(id);
                if (it == fe.end()) fe.emplace(id, v.array().square().matrix());
                else it->second.array() += v.array().square();
            }
        }
    }
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        if (unit.kind == io::UnitKind::LmHead) continue;
        const std::string tensor = unit.members[0].name;
        const auto w = m_tf->current_matrix(tensor);
        const bool tied = unit.kind == io::UnitKind::TiedEmbedding;
        for (size_t c = 0; c < cands.size(); ++c) {
            set_item(unit.name + " " + cands[c].name());
            const RowMatrix wq = quantize_named(tensor, *w, cands[c], nullptr);
            double kl = 0;
            for (const auto& [id, f] : fe)
                kl += 0.5 * static_cast<double>((f.array() * (w->row(id) - wq.row(id)).array().square()).sum()) / m_samples;
            if (tied) {
                m_table.units[u].candidates[c].kld = (kl + m_head_kl[c]) / static_cast<double>(m_tokens);
                engine::check_finite_value(m_table.units[u].candidates[c].kld, m_model->dir().string(),
                                           "KLD of unit '" + unit.name + "' as " + cands[c].name());
            } else {
                double num = 0, den = 0;
                for (const auto& seq : m_calib.sequences) {
                    const RowMatrix a = Transformer::gather_rows(*w, seq), b = Transformer::gather_rows(wq, seq);
                    num += (a - b).squaredNorm();
                    den += a.squaredNorm();
                }
                set_candidate(u, c, kl, num, den);
            }
            step(1);
        }
        finish_unit(u);
    }
}

ScoreTable FisherScorer::run() {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& cfg = m_model->config();
    ScoringSetup setup = open_scoring(m_engine, m_model, m_calib, m_opt, m_job);
    m_tf = &m_engine.transformer();
    m_nseq = setup.nseq;
    m_tokens = setup.tokens;
    m_scale_dtype = setup.scale_dtype;
    m_samples = std::max(1, m_opt.fisher_samples);
    m_table = std::move(setup.table);

    // Work units: reference pass and backward passes (a layer on one sequence, per label sample), output
    // gradients (per sequence and sample), the lm_head's exact variants (per sequence) and one per scored variant.
    const double C = static_cast<double>(m_opt.candidates.size());
    double layer_units = 0, head_users = 0, embed_units = 0;
    for (const auto& [l, us] : setup.by_layer) layer_units += static_cast<double>(us.size());
    for (size_t u : setup.head_units) {
        const auto kind = m_model->layout().units[u].kind;
        head_users += kind == io::UnitKind::LmHead || kind == io::UnitKind::TiedEmbedding;
        embed_units += kind != io::UnitKind::LmHead;
    }
    m_progress.set_total(static_cast<double>(cfg.num_layers) * m_nseq * (1 + m_samples) + m_nseq * m_samples +
                         C * (layer_units + embed_units) + C * m_nseq * head_users);

    run_reference_pass(m_engine, setup, cfg.num_layers, m_progress);
    head_pass(setup.head_units);
    for (int l = cfg.num_layers - 1; l >= 0; --l) {
        auto it = setup.by_layer.find(l);
        backward_layer(l, it == setup.by_layer.end() ? std::vector<size_t>{} : it->second);
    }
    score_embedding_units(setup.head_units);
    m_progress.finish();
    m_table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m_table;
}

}  // namespace

ScoreTable score_model_fisher(std::shared_ptr<const io::Model> model, const CalibrationSet& calib,
                              const ScoreOptions& opt, const JobContext& job) {
    FisherScorer s(std::move(model), calib, opt, job);
    return s.run();
}

}  // namespace mixq::score
