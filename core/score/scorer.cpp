// SPDX-License-Identifier: MIT
// score_model: reference pass with cached layer inputs, then per layer the batched variants of its units carried
// through the rest of the model (exact) or added to the final residual stream (fast), and the head/embedding units.
#include "core/score/scorer.h"

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/engine/transformer.h"
#include "core/quant/quantizer.h"
#include "core/score/fisher_scorer.h"
#include "core/score/hidden_cache.h"
#include "core/score/kl_divergence.h"

namespace mixq::score {
namespace fs = std::filesystem;
using engine::DenseLinear;
using engine::LayerWeights;
using engine::RowMatrix;
using engine::Transformer;
using engine::Vector;
using io::LinearRole;

std::vector<quant::QuantFormat> parse_candidates(const std::string& list, quant::Method method) {
    std::vector<quant::QuantFormat> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty()) continue;
        auto f = quant::QuantFormat::parse(item);
        if (f.is_float()) fail("", "candidate '" + item + "': 16-bit float is always a planner option, not a candidate");
        f.method = method == quant::Method::KQuant ? quant::Method::KQuant : f.method;
        for (const auto& o : out)
            if (o == f) fail("", "candidate '" + item + "' is listed twice");
        out.push_back(f);
    }
    if (out.empty()) fail("", "no candidates given");
    return out;
}

ScoringSetup prepare_scoring(const io::Model& model, const CalibrationSet& calib, const ScoreOptions& opt,
                             const JobContext& job) {
    ScoringSetup su;
    const auto& cfg = model.config();
    const auto& layout = model.layout();
    if (calib.sequences.empty()) fail("calibration", "no calibration sequences");
    su.nseq = static_cast<int>(calib.sequences.size());
    if (opt.mode == "fast") su.nseq = std::min(su.nseq, std::max(1, opt.fast_max_sequences));
    else if (opt.mode != "exact") fail("", "scoring mode must be exact or fast, got '" + opt.mode + "'");
    if (opt.fast_estimator != "fisher" && opt.fast_estimator != "shortcut")
        fail("", "fast estimator must be fisher or shortcut, got '" + opt.fast_estimator + "'");
    for (int s = 0; s < su.nseq; ++s) su.tokens += static_cast<int64_t>(calib.sequences[static_cast<size_t>(s)].size());
    for (const auto& seq : calib.sequences)
        for (int id : seq)
            if (id < 0 || id >= cfg.vocab_size)
                fail("calibration", "token id " + std::to_string(id) + " outside the model's vocabulary");
    if (opt.rotation != "none" && opt.rotation != "hadamard")
        fail("", "rotation must be none or hadamard, got '" + opt.rotation + "'");

    su.scale_dtype = model.weight_dtype() == io::DType::F32 ? io::DType::F32 : model.weight_dtype();
    ScoreTable& t = su.table;
    t.model_path = model.dir().string();
    t.model_hash = model.content_hash(job);
    t.candidates = opt.candidates;
    t.calib_samples = static_cast<int>(calib.sequences.size());
    t.calib_seq_len = calib.sequences.empty() ? 0 : static_cast<int>(calib.sequences[0].size());
    t.calib_source = calib.source;
    t.mode = opt.mode;
    t.device = "cpu";
    t.scale_bits = static_cast<int>(io::dtype_size(su.scale_dtype) * 8);

    std::map<int, int64_t> per_layer;
    for (const auto& tn : layout.linears)
        if (tn.layer >= 0) per_layer[tn.layer] += tn.numel();
    for (const auto& [l, n] : per_layer) su.largest_layer_params = std::max(su.largest_layer_params, n);
    const int64_t head = static_cast<int64_t>(cfg.vocab_size) * cfg.hidden_size * (layout.tied_embeddings ? 1 : 2);
    const int variants_per_layer = 4 * static_cast<int>(opt.candidates.size());
    su.footprint = estimate_footprint(model.parameter_count(), su.largest_layer_params, head, cfg.num_layers,
                                      cfg.hidden_size, cfg.vocab_size, su.tokens, variants_per_layer);

    // Units, with candidate storage figures (exact, from the format's accounting).
    for (size_t i = 0; i < layout.units.size(); ++i) {
        const auto& u = layout.units[i];
        UnitScore us;
        us.name = u.name;
        us.kind = u.kind;
        us.layer = u.layer;
        for (const auto& m : u.members) {
            us.members.push_back(m.name);
            us.shapes.push_back({m.out_features, m.in_features});
        }
        for (const auto& f : opt.candidates) {
            CandidateScore cs;
            cs.format = f;
            uint64_t bits = 0;
            for (const auto& m : u.members) bits += f.storage_bits(m.out_features, m.in_features, t.scale_bits);
            cs.bytes = (bits + 7) / 8;
            cs.bits_per_weight = static_cast<double>(bits) / static_cast<double>(u.numel());
            us.candidates.push_back(cs);
        }
        t.units.push_back(std::move(us));
        if (u.layer >= 0) su.by_layer[u.layer].push_back(i);
        else su.head_units.push_back(i);
    }
    return su;
}

std::shared_ptr<const engine::Rotation> make_rotation(std::shared_ptr<const io::Model> model, const ScoreOptions& opt,
                                                      ScoreTable& table, const JobContext& job) {
    if (opt.rotation != "hadamard") return nullptr;
    auto r = std::make_shared<engine::Rotation>(std::move(model), opt.rotation_seed);
    table.rotation = "hadamard:seed=" + std::to_string(opt.rotation_seed);
    job.log("rotation: " + r->describe());
    return r;
}

std::vector<float> channel_importance(const std::vector<const RowMatrix*>& xs) {
    std::vector<double> acc;
    int64_t rows = 0;
    for (const auto* x : xs) {
        if (acc.empty()) acc.assign(static_cast<size_t>(x->cols()), 0.0);
        for (int64_t c = 0; c < x->cols(); ++c) acc[static_cast<size_t>(c)] += x->col(c).squaredNorm();
        rows += x->rows();
    }
    std::vector<float> out(acc.size());
    for (size_t c = 0; c < acc.size(); ++c) out[c] = static_cast<float>(acc[c] / std::max<int64_t>(rows, 1));
    return out;
}

namespace {

const RowMatrix& weight_of(const std::shared_ptr<const engine::Linear>& l) {
    return dynamic_cast<const DenseLinear&>(*l).weight();
}
std::optional<Vector> bias_of(const std::shared_ptr<const engine::Linear>& l) {
    return dynamic_cast<const DenseLinear&>(*l).bias();
}
RowMatrix vcat(std::initializer_list<const RowMatrix*> parts) {
    int64_t rows = 0;
    for (auto* p : parts) rows += p->rows();
    RowMatrix out(rows, (*parts.begin())->cols());
    int64_t r = 0;
    for (auto* p : parts) {
        out.middleRows(r, p->rows()) = *p;
        r += p->rows();
    }
    return out;
}

/// The weight matrix [N, K] of a unit member as stored in the file (packed tensors re-concatenated).
RowMatrix member_weight(const LayerWeights& w, LinearRole role) {
    switch (role) {
        case LinearRole::Q: return weight_of(w.q);
        case LinearRole::K: return weight_of(w.k);
        case LinearRole::V: return weight_of(w.v);
        case LinearRole::QKV: return vcat({&weight_of(w.q), &weight_of(w.k), &weight_of(w.v)});
        case LinearRole::O: return weight_of(w.o);
        case LinearRole::Gate: return weight_of(w.gate);
        case LinearRole::Up: return weight_of(w.up);
        case LinearRole::GateUp: return vcat({&weight_of(w.gate), &weight_of(w.up)});
        case LinearRole::Down: return weight_of(w.down);
        default: break;
    }
    fail("scorer", "not a decoder-layer linear");
}

std::shared_ptr<const engine::Linear> dense(RowMatrix w, std::optional<Vector> b) {
    return std::make_shared<DenseLinear>(std::move(w), std::move(b));
}

/// A copy of `w` with one member replaced by `wq` (packed tensors split back into their parts).
void replace_member(LayerWeights& w, LinearRole role, const RowMatrix& wq) {
    switch (role) {
        case LinearRole::Q: w.q = dense(wq, bias_of(w.q)); return;
        case LinearRole::K: w.k = dense(wq, bias_of(w.k)); return;
        case LinearRole::V: w.v = dense(wq, bias_of(w.v)); return;
        case LinearRole::QKV: {
            const int64_t q = w.q->out_features(), k = w.k->out_features();
            w.q = dense(wq.topRows(q), bias_of(w.q));
            w.k = dense(wq.middleRows(q, k), bias_of(w.k));
            w.v = dense(wq.bottomRows(wq.rows() - q - k), bias_of(w.v));
            return;
        }
        case LinearRole::O: w.o = dense(wq, bias_of(w.o)); return;
        case LinearRole::Gate: w.gate = dense(wq, std::nullopt); return;
        case LinearRole::Up: w.up = dense(wq, std::nullopt); return;
        case LinearRole::GateUp: {
            const int64_t i = w.gate->out_features();
            w.gate = dense(wq.topRows(i), std::nullopt);
            w.up = dense(wq.bottomRows(wq.rows() - i), std::nullopt);
            return;
        }
        case LinearRole::Down: w.down = dense(wq, std::nullopt); return;
        default: break;
    }
    fail("scorer", "not a decoder-layer linear");
}

const RowMatrix& tap_for(const Transformer::LayerTaps& t, io::UnitKind kind) {
    switch (kind) {
        case io::UnitKind::QKV: return t.attn_in;
        case io::UnitKind::O: return t.o_in;
        case io::UnitKind::GateUp: return t.mlp_in;
        case io::UnitKind::Down: return t.down_in;
        default: break;
    }
    fail("scorer", "unit kind has no layer tap");
}

/// Σ‖X·ΔWᵀ‖² and Σ‖X·Wᵀ‖² over sequences.
void accumulate_output_error(const std::vector<const RowMatrix*>& xs, const RowMatrix& w, const RowMatrix& wq,
                             double& num, double& den, const JobContext& job) {
    const RowMatrix dw = w - wq;
    for (const auto* x : xs) {
        job.check_cancel();  // two products per sequence; with an lm_head, each is [tokens, vocab]
        RowMatrix y, dy;
        engine::matmul_wt(*x, w, y);
        engine::matmul_wt(*x, dw, dy);
        num += static_cast<double>(dy.squaredNorm());
        den += static_cast<double>(y.squaredNorm());
    }
}

struct Variant {
    size_t unit;       ///< index into the table's units
    size_t candidate;  ///< index into the candidates
    LayerWeights weights;
    std::vector<RowMatrix> hidden;  ///< per sequence
    double err_num = 0, err_den = 0;
};

class Scorer {
public:
    Scorer(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
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
    std::vector<RowMatrix> m_ref_logp;  ///< full mode only
    std::shared_ptr<const RowMatrix> m_head;  ///< unquantized lm_head (or tied table)
    ScoreTable m_table;
    io::DType m_scale_dtype = io::DType::BF16;
    int m_nseq = 0;
    int64_t m_tokens = 0;
    double m_work_total = 1, m_work_done = 0;
    std::string m_item;

    void step(double work) {
        m_work_done += work;
        m_job.report(m_work_done / m_work_total, "scoring", m_item);
    }
    RowMatrix ref_logp(int s) {
        if (!m_ref_logp.empty()) return m_ref_logp[static_cast<size_t>(s)];
        return log_softmax(m_tf->logits_with(m_cache->get(m_tf->config().num_layers, s), *m_head));
    }
    void reference_pass();
    void score_layer(int layer, const std::vector<size_t>& units);
    void score_head_units(const std::vector<size_t>& units);
    /// fake_quantize with errors (e.g. NaN/Inf weights) reported against the tensor and the model folder.
    RowMatrix quantize_named(const std::string& tensor, const RowMatrix& w, const quant::QuantFormat& f,
                             const float* importance) const {
        try {
            return quant::fake_quantize(w, f, m_scale_dtype, importance, &m_job.token());
        } catch (const Error& e) {
            fail(m_model->dir().string(), "tensor '" + tensor + "': " + e.what());
        }
    }
    void finish_unit(size_t u) {
        if (m_opt.on_unit) m_opt.on_unit(m_table.units[u]);
    }
    /// What a non-finite value met while computing a variant stopped (engine::NonFiniteStep).
    std::string variant_step(const Variant& v) const {
        return engine::kld_step(m_table.units[v.unit].name, m_table.candidates[v.candidate].name());
    }
    void set_candidate(size_t u, size_t c, double kld_sum, double num, double den) {
        auto& cs = m_table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_tokens);
        cs.rel_err = den > 0 ? std::sqrt(num / den) : 0.0;
        if (!std::isfinite(cs.kld) || !std::isfinite(cs.rel_err))
            fail(m_model->dir().string(), "unit '" + m_table.units[u].name + "' as " + cs.format.name() +
                                              ": non-finite KLD (the logits hold NaN or Inf: its weights or "
                                              "activations overflow); no scores file is written");
    }
};

void Scorer::reference_pass() {
    const int L = m_tf->config().num_layers;
    std::vector<RowMatrix> h(static_cast<size_t>(m_nseq));
    for (int s = 0; s < m_nseq; ++s) {
        h[static_cast<size_t>(s)] = m_tf->embed(m_calib.sequences[static_cast<size_t>(s)]);
        m_cache->put(0, s, h[static_cast<size_t>(s)]);
    }
    for (int l = 0; l < L; ++l) {
        m_item = "reference pass, layer " + std::to_string(l);
        auto w = m_tf->layer(l);
        for (int s = 0; s < m_nseq; ++s) {
            m_tf->run_layer_with(*w, l, h[static_cast<size_t>(s)]);
            m_cache->put(l + 1, s, h[static_cast<size_t>(s)]);
            step(1);
        }
    }
    if (m_table.memory_mode == "full")
        for (int s = 0; s < m_nseq; ++s)
            m_ref_logp.push_back(log_softmax(m_tf->logits_with(h[static_cast<size_t>(s)], *m_head)));
}

void Scorer::score_layer(int layer, const std::vector<size_t>& units) {
    const int L = m_tf->config().num_layers;
    const auto& cands = m_table.candidates;
    auto ref_w = m_tf->layer(layer);
    // Taps of this layer for every sequence (inputs of each linear), from the cached layer input.
    std::vector<Transformer::LayerTaps> taps(static_cast<size_t>(m_nseq));
    std::vector<RowMatrix> ref_out(static_cast<size_t>(m_nseq));
    std::vector<RowMatrix> inputs(static_cast<size_t>(m_nseq));  // read once per layer (offload reads files)
    for (int s = 0; s < m_nseq; ++s) inputs[static_cast<size_t>(s)] = m_cache->get(layer, s);
    for (int s = 0; s < m_nseq; ++s) {
        RowMatrix h = inputs[static_cast<size_t>(s)];
        m_tf->run_layer_with(*ref_w, layer, h, &taps[static_cast<size_t>(s)]);
        if (m_opt.mode == "fast") ref_out[static_cast<size_t>(s)] = std::move(h);
    }
    std::vector<Variant> variants;
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        std::vector<const RowMatrix*> xs;
        for (const auto& t : taps) xs.push_back(&tap_for(t, unit.kind));
        const std::vector<float> importance = channel_importance(xs);
        for (size_t c = 0; c < cands.size(); ++c) {
            m_item = unit.name + " " + cands[c].name();
            const engine::NonFiniteStep kld_of(engine::kld_step(unit.name, cands[c].name()));
            Variant v{u, c, *ref_w, {}, 0, 0};
            for (const auto& m : unit.members) {
                const RowMatrix w = member_weight(*ref_w, m.role);
                const RowMatrix wq = quantize_named(m.name, w, cands[c],
                                                    cands[c].method == quant::Method::KQuant ? importance.data() : nullptr);
                accumulate_output_error(xs, w, wq, v.err_num, v.err_den, m_job);
                replace_member(v.weights, m.role, wq);
            }
            for (int s = 0; s < m_nseq; ++s) {
                RowMatrix h = inputs[static_cast<size_t>(s)];
                m_tf->run_layer_with(v.weights, layer, h);
                v.hidden.push_back(std::move(h));
                step(1);
            }
            v.weights = LayerWeights{};  // drop the variant's weights; only its hidden states travel on
            variants.push_back(std::move(v));
        }
    }
    taps.clear();
    inputs.clear();
    if (m_opt.mode == "exact") {
        for (int l = layer + 1; l < L; ++l) {
            m_item = "layer " + std::to_string(layer) + " variants through layer " + std::to_string(l);
            auto w = m_tf->layer(l);
            for (auto& v : variants) {
                const engine::NonFiniteStep kld_of(variant_step(v));
                for (int s = 0; s < m_nseq; ++s) {
                    m_tf->run_layer_with(*w, l, v.hidden[static_cast<size_t>(s)]);
                    step(1);
                }
            }
        }
    }
    std::vector<double> kl(variants.size(), 0.0);
    for (int s = 0; s < m_nseq; ++s) {
        const RowMatrix ref = ref_logp(s);  // once per sequence for all of this layer's variants
        RowMatrix final_ref;
        if (m_opt.mode == "fast") final_ref = m_cache->get(L, s);
        for (size_t i = 0; i < variants.size(); ++i) {
            auto& v = variants[i];
            const engine::NonFiniteStep kld_of(variant_step(v));
            RowMatrix final_h;
            if (m_opt.mode == "exact") {
                final_h = std::move(v.hidden[static_cast<size_t>(s)]);
            } else {  // residual shortcut: the layer's output change carried unchanged to the final residual stream
                final_h = final_ref + (v.hidden[static_cast<size_t>(s)] - ref_out[static_cast<size_t>(s)]);
            }
            kl[i] += kl_sum(ref, m_tf->logits_with(final_h, *m_head));
            v.hidden[static_cast<size_t>(s)] = RowMatrix();
            step(1);
        }
    }
    std::map<size_t, int> remaining;
    for (const auto& v : variants) ++remaining[v.unit];
    for (size_t i = 0; i < variants.size(); ++i) {
        const auto& v = variants[i];
        set_candidate(v.unit, v.candidate, kl[i], v.err_num, v.err_den);
        if (--remaining[v.unit] == 0) finish_unit(v.unit);
    }
}

void Scorer::score_head_units(const std::vector<size_t>& units) {
    const int L = m_tf->config().num_layers;
    const auto& cands = m_table.candidates;
    std::vector<RowMatrix> finals;  // final-norm outputs: the lm_head's inputs
    std::vector<const RowMatrix*> xs;
    for (int s = 0; s < m_nseq; ++s) finals.push_back(m_tf->final_hidden(m_cache->get(L, s)));
    for (const auto& f : finals) xs.push_back(&f);
    const std::vector<float> head_importance = channel_importance(xs);
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        const bool uses_head = unit.kind == io::UnitKind::LmHead || unit.kind == io::UnitKind::TiedEmbedding;
        const bool uses_embed = unit.kind == io::UnitKind::Embedding || unit.kind == io::UnitKind::TiedEmbedding;
        const std::string tensor = unit.members[0].name;
        const auto w = m_tf->current_matrix(tensor);
        for (size_t c = 0; c < cands.size(); ++c) {
            m_item = unit.name + " " + cands[c].name();
            const engine::NonFiniteStep kld_of(engine::kld_step(unit.name, cands[c].name()));
            const bool weighted = cands[c].method == quant::Method::KQuant && uses_head;
            const RowMatrix wq = quantize_named(tensor, *w, cands[c], weighted ? head_importance.data() : nullptr);
            double num = 0, den = 0;
            if (uses_head) {
                accumulate_output_error(xs, *w, wq, num, den, m_job);
            } else {  // embedding gather: relative error of the gathered rows
                for (const auto& seq : m_calib.sequences) {
                    const RowMatrix a = Transformer::gather_rows(*w, seq), b = Transformer::gather_rows(wq, seq);
                    num += (a - b).squaredNorm();
                    den += a.squaredNorm();
                }
            }
            double kl = 0;
            for (int s = 0; s < m_nseq; ++s) {
                RowMatrix final_h;
                if (!uses_embed) {
                    final_h = m_cache->get(L, s);
                } else if (m_opt.mode == "exact") {
                    final_h = Transformer::gather_rows(wq, m_calib.sequences[static_cast<size_t>(s)]);
                } else {  // fast: the embedding change carried unchanged to the final residual stream
                    const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
                    final_h = m_cache->get(L, s) + (Transformer::gather_rows(wq, seq) - Transformer::gather_rows(*w, seq));
                }
                if (uses_embed && m_opt.mode == "exact") {
                    for (int l = 0; l < L; ++l) {
                        auto lw = m_tf->layer(l);
                        m_tf->run_layer_with(*lw, l, final_h);
                    }
                }
                kl += kl_sum(ref_logp(s), m_tf->logits_with(final_h, uses_head ? wq : *m_head));
                step(uses_embed && m_opt.mode == "exact" ? L + 1 : 1);
            }
            set_candidate(u, c, kl, num, den);
        }
        finish_unit(u);
    }
}

ScoreTable Scorer::run() {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& cfg = m_model->config();
    const auto& layout = m_model->layout();
    ScoringSetup setup = prepare_scoring(*m_model, m_calib, m_opt, m_job);
    m_nseq = setup.nseq;
    m_tokens = setup.tokens;
    m_scale_dtype = setup.scale_dtype;
    m_table = std::move(setup.table);
    const auto& by_layer = setup.by_layer;
    const auto& head_units = setup.head_units;

    // Memory mode.
    const MemoryDecision decision =
        choose_memory_mode(m_opt.memory, setup.footprint, host_available_memory(), {}, cfg.num_layers,
                           static_cast<uint64_t>(setup.largest_layer_params) * 4);
    if (decision.mode == MemoryMode::MultiGpu) fail("", "memory mode multi_gpu scores on CUDA devices (--device cuda)");
    m_table.memory_mode = memory_mode_name(decision.mode);
    m_table.memory_reason = decision.reason;
    m_job.log(decision.reason);
    if (m_opt.on_placement) m_opt.on_placement("cpu", m_table.memory_mode, decision.reason);
    engine::EngineOptions eo;
    eo.resident = decision.mode == MemoryMode::Full;
    eo.rotation = make_rotation(m_model, m_opt, m_table, m_job);
    m_tf = std::make_unique<Transformer>(m_model, eo);
    fs::path off = m_opt.offload_dir.empty() ? fs::temp_directory_path() : m_opt.offload_dir;
    std::random_device rd;
    off /= "mixq-offload-" + std::to_string(rd());
    m_cache = std::make_unique<HiddenCache>(cfg.num_layers + 1, m_nseq, decision.mode == MemoryMode::Offload, off);
    m_head = m_tf->current_matrix(layout.tied_embeddings ? io::TensorNames::embed() : io::TensorNames::lm_head());

    // Work units for progress: one "layer-sequence" each.
    const double C = static_cast<double>(m_opt.candidates.size());
    m_work_total = static_cast<double>(cfg.num_layers) * m_nseq;
    for (const auto& [l, us] : by_layer) {
        const double downstream = m_opt.mode == "exact" ? cfg.num_layers - l - 1 : 0;
        m_work_total += static_cast<double>(us.size()) * C * m_nseq * (2 + downstream);
    }
    for (size_t u : head_units) {
        const bool embed = layout.units[u].kind != io::UnitKind::LmHead;
        m_work_total += C * m_nseq * (embed && m_opt.mode == "exact" ? cfg.num_layers + 1 : 1);
    }

    reference_pass();
    // Head units first: they are cheap and the lm_head/tied table is often the most sensitive.
    score_head_units(head_units);
    for (const auto& [l, us] : by_layer) score_layer(l, us);
    m_job.report(1.0, "scoring", "done");
    m_table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m_table;
}

}  // namespace

ScoreTable score_model(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                       const JobContext& job) {
    if (opt.mode == "fast" && opt.fast_estimator == "fisher") return score_model_fisher(std::move(model), calib, opt, job);
    Scorer s(std::move(model), calib, opt, job);
    return s.run();
}

}  // namespace mixq::score
