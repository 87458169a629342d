// SPDX-License-Identifier: MIT
// Made-up sensitivity scores for the GUI tests: a ScoreTable over a model's real quantization units (names,
// kinds, members, shapes from its layout) with deterministic, distinct KLDs per unit and candidate.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/io/model.h"
#include "core/score/score_table.h"

namespace mixq_test {

inline std::vector<mixq::quant::QuantFormat> fake_candidates() {
    return {mixq::quant::QuantFormat::parse("int4-g128"), mixq::quant::QuantFormat::parse("int8-g32"),
            mixq::quant::QuantFormat::float16()};
}

/// KLD of unit #i (layout order) for candidate #c: 10^-(1 + 0.37 i mod 2.5 + 1.5 c), never zero.
inline double fake_kld(size_t i, size_t c) { return std::pow(10.0, -(1.0 + std::fmod(0.37 * i, 2.5) + 1.5 * c)); }

inline mixq::score::ScoreTable fake_scores(const mixq::io::Model& model) {
    mixq::score::ScoreTable t;
    t.model_path = model.dir().string();
    t.model_hash = model.content_hash();
    t.candidates = fake_candidates();
    t.calib_samples = 8;
    t.calib_seq_len = 64;
    t.calib_source = "builtin";
    const auto& units = model.layout().units;
    for (size_t i = 0; i < units.size(); ++i) {
        const auto& q = units[i];
        mixq::score::UnitScore u;
        u.name = q.name;
        u.kind = q.kind;
        u.layer = q.layer;
        for (const auto& m : q.members) {
            u.members.push_back(m.name);
            u.shapes.push_back({m.out_features, m.in_features});
        }
        for (size_t c = 0; c < t.candidates.size(); ++c) {
            mixq::score::CandidateScore s;
            s.format = t.candidates[c];
            s.kld = fake_kld(i, c);
            s.rel_err = 0.01 * (i + 1) / (c + 1);
            s.bits_per_weight = t.candidates[c].bits;
            s.bytes = static_cast<uint64_t>(q.numel()) * t.candidates[c].bits / 8;
            u.candidates.push_back(s);
        }
        t.units.push_back(std::move(u));
    }
    return t;
}

}  // namespace mixq_test
