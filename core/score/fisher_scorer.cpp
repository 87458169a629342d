// SPDX-License-Identifier: MIT
// score_model_fisher: reference pass, self-sampled label gradients at the logits, backward layer by layer with
// each layer's units scored from its diagonal Fisher as soon as the layer is done, then the embedding units.
#include "core/score/fisher_scorer.h"

#include <chrono>
#include <cmath>
#include <random>
#include <unordered_map>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/engine/layer_backward.h"
#include "core/quant/quantizer.h"
#include "core/score/fisher.h"
#include "core/score/hidden_cache.h"
#include "core/score/kl_divergence.h"

namespace mixq::score {
namespace fs = std::filesystem;
using engine::RowMatrix;
using engine::Transformer;

namespace {

const RowMatrix& tap_of(const Transformer::LayerTaps& t, io::UnitKind kind) {
    switch (kind) {
        case io::UnitKind::QKV: return t.attn_in;
        case io::UnitKind::O: return t.o_in;
        case io::UnitKind::GateUp: return t.mlp_in;
        case io::UnitKind::Down: return t.down_in;
        default: break;
    }
    fail("scorer", "unit kind has no layer tap");
}

/// Σ‖X·ΔWᵀ‖² and Σ‖X·Wᵀ‖² over sequences (the relative output error).
void add_output_error(const std::vector<const RowMatrix*>& xs, const RowMatrix& w, const RowMatrix& wq, double& num,
                      double& den, const JobContext& job) {
    const RowMatrix dw = w - wq;
    for (const auto* x : xs) {
        job.check_cancel();
        RowMatrix y, dy;
        engine::matmul_wt(*x, w, y);
        engine::matmul_wt(*x, dw, dy);
        num += static_cast<double>(dy.squaredNorm());
        den += static_cast<double>(y.squaredNorm());
    }
}

class FisherScorer {
public:
    FisherScorer(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                 const JobContext& job)
        : m_model(std::move(model)), m_calib(calib), m_opt(opt), m_job(job) {}
    ScoreTable run();

private:
    std::shared_ptr<const io::Model> m_model;
    const CalibrationSet& m_calib;
    const ScoreOptions& m_opt;
    const JobContext& m_job;
    std::unique_ptr<Transformer> m_tf;
    std::unique_ptr<HiddenCache> m_cache;
    std::shared_ptr<const RowMatrix> m_head;
    ScoreTable m_table;
    io::DType m_scale_dtype = io::DType::BF16;
    int m_nseq = 0, m_samples = 1;
    int64_t m_tokens = 0;
    double m_work_total = 1, m_work_done = 0;
    std::string m_item;
    std::vector<std::vector<RowMatrix>> m_grad;  ///< [seq][sample]: dL/d(residual stream) at the current level
    std::vector<double> m_head_kl;               ///< per candidate: exact KL of a tied table's lm_head use

    void step(double work) {
        m_work_done += work;
        m_job.report(m_work_done / m_work_total, "scoring", m_item);
    }
    RowMatrix quantize_named(const std::string& tensor, const RowMatrix& w, const quant::QuantFormat& f,
                             const float* importance) const {
        try {
            return quant::fake_quantize(w, f, m_scale_dtype, importance, &m_job.token());
        } catch (const Error& e) {
            fail(m_model->dir().string(), "tensor '" + tensor + "': " + e.what());
        }
    }
    void set_candidate(size_t u, size_t c, double kld_sum, double num, double den) {
        auto& cs = m_table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_tokens);
        cs.rel_err = den > 0 ? std::sqrt(num / den) : 0.0;
        engine::check_finite_value(cs.kld, m_model->dir().string(), engine::kld_step(m_table.units[u].name, cs.format.name()));
    }
    void finish_unit(size_t u) {
        if (m_opt.on_unit) m_opt.on_unit(m_table.units[u]);
    }
    void reference_and_head_pass(const std::vector<size_t>& head_units);
    void backward_layer(int layer, const std::vector<size_t>& units);
    void score_embedding_units(const std::vector<size_t>& units);
};

void FisherScorer::reference_and_head_pass(const std::vector<size_t>& head_units) {
    const int L = m_tf->config().num_layers;
    const auto& cands = m_table.candidates;
    std::vector<RowMatrix> finals(static_cast<size_t>(m_nseq));
    for (int s = 0; s < m_nseq; ++s) {
        RowMatrix h = m_tf->embed(m_calib.sequences[static_cast<size_t>(s)]);
        m_cache->put(0, s, h);
        for (int l = 0; l < L; ++l) {
            m_item = "reference pass, layer " + std::to_string(l);
            m_tf->run_layer(l, h);
            m_cache->put(l + 1, s, h);
            step(1);
        }
        finals[static_cast<size_t>(s)] = std::move(h);
    }
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
            m_item = unit.name + " " + cands[c].name();
            const bool weighted = cands[c].method == quant::Method::KQuant;
            HeadVariant v{u, c, quantize_named(unit.members[0].name, *m_head, cands[c],
                                               weighted ? head_importance.data() : nullptr)};
            add_output_error(xs, *m_head, v.wq, v.num, v.den, m_job);
            hv.push_back(std::move(v));
        }
    }
    m_grad.assign(static_cast<size_t>(m_nseq), std::vector<RowMatrix>(static_cast<size_t>(m_samples)));
    for (int s = 0; s < m_nseq; ++s) {
        m_item = "output gradients, sequence " + std::to_string(s);
        const RowMatrix ref = log_softmax(m_tf->logits_with(finals[static_cast<size_t>(s)], *m_head));
        for (auto& v : hv) {
            const engine::NonFiniteStep kld_of(engine::kld_step(m_model->layout().units[v.unit].name, cands[v.cand].name()));
            v.kl += kl_sum(ref, m_tf->logits_with(finals[static_cast<size_t>(s)], v.wq));
            step(1);
        }
        for (int r = 0; r < m_samples; ++r) {
            const uint64_t seed = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(s * 1000 + r + 1);
            m_grad[static_cast<size_t>(s)][static_cast<size_t>(r)] = engine::head_backward(
                *m_tf, finals[static_cast<size_t>(s)], *m_head, sampled_label_grad(ref, seed));
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
        m_item = "backward pass, layer " + std::to_string(layer);
        engine::LayerTape tape;
        RowMatrix h = m_cache->get(layer, s);
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
        for (const auto& t : taps) xs.push_back(&tap_of(t, unit.kind));
        const std::vector<float> importance = channel_importance(xs);
        std::vector<std::shared_ptr<const RowMatrix>> member_w;  // as stored (packed tensors whole)
        for (const auto& m : unit.members) member_w.push_back(m_tf->current_matrix(m.name));
        for (size_t c = 0; c < cands.size(); ++c) {
            m_item = unit.name + " " + cands[c].name();
            double kl = 0, num = 0, den = 0;
            for (size_t i = 0; i < unit.members.size(); ++i) {
                const RowMatrix wq = quantize_named(unit.members[i].name, *member_w[i], cands[c],
                                                    cands[c].method == quant::Method::KQuant ? importance.data() : nullptr);
                add_output_error(xs, *member_w[i], wq, num, den, m_job);
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
            m_item = unit.name + " " + cands[c].name();
            const RowMatrix wq = quantize_named(tensor, *w, cands[c], nullptr);
            double kl = 0;
            for (const auto& [id, f] : fe)
                kl += 0.5 * static_cast<double>((f.array() * (w->row(id) - wq.row(id)).array().square()).sum()) / m_samples;
            if (tied) {
                m_table.units[u].candidates[c].kld = (kl + m_head_kl[c]) / static_cast<double>(m_tokens);
                engine::check_finite_value(m_table.units[u].candidates[c].kld, m_model->dir().string(),
                                           engine::kld_step(unit.name, cands[c].name()));
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
    const auto& layout = m_model->layout();
    ScoringSetup setup = prepare_scoring(*m_model, m_calib, m_opt, m_job);
    m_nseq = setup.nseq;
    m_tokens = setup.tokens;
    m_scale_dtype = setup.scale_dtype;
    m_samples = std::max(1, m_opt.fisher_samples);
    m_table = std::move(setup.table);

    const MemoryDecision decision =
        choose_memory_mode(m_opt.memory, setup.footprint, host_available_memory(), {}, cfg.num_layers,
                           static_cast<uint64_t>(setup.largest_layer_params) * 4);
    if (decision.mode == MemoryMode::MultiGpu) fail("", "memory mode multi_gpu scores on CUDA devices (--device cuda)");
    m_table.memory_mode = memory_mode_name(decision.mode);
    m_table.memory_reason = decision.reason;
    m_job.log(decision.reason);
    engine::EngineOptions eo;
    eo.resident = decision.mode == MemoryMode::Full;
    eo.rotation = make_rotation(m_model, m_opt, m_table, m_job);
    m_tf = std::make_unique<Transformer>(m_model, eo);
    fs::path off = m_opt.offload_dir.empty() ? fs::temp_directory_path() : m_opt.offload_dir;
    std::random_device rd;
    off /= "mixq-offload-" + std::to_string(rd());
    m_cache = std::make_unique<HiddenCache>(cfg.num_layers + 1, m_nseq, decision.mode == MemoryMode::Offload, off);
    m_head = m_tf->current_matrix(layout.tied_embeddings ? io::TensorNames::embed() : io::TensorNames::lm_head());

    const double C = static_cast<double>(m_opt.candidates.size());
    size_t layer_units = 0;
    for (const auto& [l, us] : setup.by_layer) layer_units += us.size();
    m_work_total = static_cast<double>(cfg.num_layers) * m_nseq * (1 + m_samples) + m_nseq * m_samples +
                   C * (static_cast<double>(layer_units) + static_cast<double>(setup.head_units.size())) +
                   C * m_nseq * static_cast<double>(setup.head_units.size());

    reference_and_head_pass(setup.head_units);
    for (int l = cfg.num_layers - 1; l >= 0; --l) {
        auto it = setup.by_layer.find(l);
        backward_layer(l, it == setup.by_layer.end() ? std::vector<size_t>{} : it->second);
    }
    score_embedding_units(setup.head_units);
    m_job.report(1.0, "scoring", "done");
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
