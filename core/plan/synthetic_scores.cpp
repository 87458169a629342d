// SPDX-License-Identifier: MIT
// Synthetic score tables (tests, benchmark).
#include "core/plan/synthetic_scores.h"

#include <cmath>
#include <random>

#include "core/io/model_layout.h"
#include "core/plan/plan.h"

namespace mixq::plan {

namespace {

// Error level of a format relative to int4-g32 asymmetric RTN: 4^-(bits-4), coarser blocks worse.
double format_level(const quant::QuantFormat& f) {
    double l = 1e-3 * std::pow(4.0, -(f.bits - 4)) * std::pow(f.block_size / 32.0, 0.35);
    if (f.symmetric) l *= 1.3;
    if (f.method == quant::Method::KQuant) l *= 0.85;
    return l;
}

void fill_scores(score::UnitScore& u, const std::vector<quant::QuantFormat>& cands, int scale_bits, std::mt19937_64& rng) {
    std::lognormal_distribution<double> sens(0.0, 1.5);
    std::uniform_real_distribution<double> noise(0.8, 1.25);
    const double s = sens(rng);
    const double w = double(u.numel());
    for (const auto& f : cands) {
        score::CandidateScore c;
        c.format = f;
        c.kld = f.is_float() ? 0.0 : s * format_level(f) * noise(rng);
        c.rel_err = std::sqrt(c.kld);
        const uint64_t bits = unit_storage_bits(u.shapes, f, scale_bits);
        c.bits_per_weight = double(bits) / w;
        c.bytes = unit_storage_bytes(u.shapes, f, scale_bits);
        u.candidates.push_back(c);
    }
}

}  // namespace

score::ScoreTable make_synthetic_scores(const SyntheticSpec& spec) {
    std::vector<quant::QuantFormat> cands = spec.candidates;
    if (cands.empty())
        cands = {quant::QuantFormat::parse("int4-g128"), quant::QuantFormat::parse("int4-g32"),
                 quant::QuantFormat::parse("int8-g128")};
    std::mt19937_64 rng(spec.seed);
    std::uniform_int_distribution<int> dim(1, 128);
    auto shape = [&](int64_t n, int64_t k) -> std::vector<int64_t> {
        if (spec.distinct_shapes) return {int64_t(dim(rng)) * 64, int64_t(dim(rng)) * 64};
        return {n, k};
    };
    std::vector<io::QuantUnit> units;
    auto add = [&](std::string name, io::UnitKind kind, int layer, std::vector<std::pair<std::string, std::vector<int64_t>>> mem) {
        io::QuantUnit u{std::move(name), kind, layer, {}};
        for (auto& [t, s] : mem) {
            io::LinearTensor lt;
            lt.name = t;
            lt.layer = layer;
            lt.out_features = s[0];
            lt.in_features = s[1];
            u.members.push_back(lt);
        }
        units.push_back(std::move(u));
    };
    const int64_t H = spec.hidden, I = spec.intermediate;
    if (spec.vocab > 0 && !spec.tied)
        add("embed_tokens", io::UnitKind::Embedding, -1, {{io::TensorNames::embed(), shape(spec.vocab, H)}});
    for (int i = 0; i < spec.layers; ++i) {
        const std::string p = "layers." + std::to_string(i) + ".";
        add(p + "qkv", io::UnitKind::QKV, i,
            {{io::TensorNames::q(i), shape(spec.q_dim, H)}, {io::TensorNames::k(i), shape(spec.kv_dim, H)},
             {io::TensorNames::v(i), shape(spec.kv_dim, H)}});
        add(p + "o", io::UnitKind::O, i, {{io::TensorNames::o(i), shape(H, spec.q_dim)}});
        add(p + "gate_up", io::UnitKind::GateUp, i,
            {{io::TensorNames::gate(i), shape(I, H)}, {io::TensorNames::up(i), shape(I, H)}});
        add(p + "down", io::UnitKind::Down, i, {{io::TensorNames::down(i), shape(H, I)}});
    }
    if (spec.vocab > 0) {
        if (spec.tied)
            add("tied_embedding", io::UnitKind::TiedEmbedding, -1, {{io::TensorNames::embed(), shape(spec.vocab, H)}});
        else
            add("lm_head", io::UnitKind::LmHead, -1, {{io::TensorNames::lm_head(), shape(spec.vocab, H)}});
    }
    score::ScoreTable t = synthetic_scores_for_units(units, cands, rng());
    return t;
}

score::ScoreTable synthetic_scores_for_units(const std::vector<io::QuantUnit>& units,
                                             const std::vector<quant::QuantFormat>& candidates, uint64_t seed,
                                             int scale_bits) {
    std::mt19937_64 rng(seed);
    score::ScoreTable t;
    t.model_path = "synthetic";
    t.model_hash = "synthetic";
    t.candidates = candidates;
    t.calib_source = "synthetic";
    t.scale_bits = scale_bits;
    for (const auto& qu : units) {
        score::UnitScore u;
        u.name = qu.name;
        u.kind = qu.kind;
        u.layer = qu.layer;
        for (const auto& m : qu.members) {
            u.members.push_back(m.name);
            u.shapes.push_back({m.out_features, m.in_features});
        }
        fill_scores(u, candidates, scale_bits, rng);
        t.units.push_back(std::move(u));
    }
    return t;
}

}  // namespace mixq::plan
