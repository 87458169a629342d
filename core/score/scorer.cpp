// SPDX-License-Identifier: MIT
// The scoring setup every backend shares (prepare_scoring, make_rotation, channel_importance), candidate lists,
// and score_model: the Fisher estimate, or the scoring driver on the CPU engine.
#include "core/score/scorer.h"

#include <map>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/score/cpu_scoring_engine.h"
#include "core/score/fisher_scorer.h"
#include "core/score/scoring_driver.h"

namespace mixq::score {
using engine::RowMatrix;

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
    HostWeights host;  // what the CPU engine's full mode holds besides fp32 weights
    std::set<std::string> ignored;
    for (const auto& ig : layout.ignored) ignored.insert(ig.tensor);
    for (const auto& tn : model.weights().tensors())
        if (!ignored.count(tn.name)) host.stored_bytes += tn.nbytes;
    for (const auto& u : layout.units) {
        auto& largest = u.layer >= 0 ? host.largest_unit_params : host.largest_table_params;
        largest = std::max(largest, u.numel());
    }
    su.footprint = estimate_footprint(model.parameter_count(), su.largest_layer_params, head, cfg.num_layers,
                                      cfg.hidden_size, cfg.vocab_size, su.tokens, variants_per_layer, host);

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

ScoreTable score_model(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                       const JobContext& job) {
    if (opt.mode == "fast" && opt.fast_estimator == "fisher") return score_model_fisher(std::move(model), calib, opt, job);
    CpuScoringEngine engine(model, calib, opt, job);
    return run_scoring(engine, std::move(model), calib, opt, job);
}

}  // namespace mixq::score
