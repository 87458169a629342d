// SPDX-License-Identifier: MIT
// Synthetic ScoreTables for tests and the planner benchmark: a decoder's units with real tensor names and shapes
// (or random shapes) and random but plausible KLDs (per-unit sensitivity x a per-format error level x noise).
#pragma once
#include <cstdint>
#include <vector>

#include "core/io/model_layout.h"
#include "core/quant/quant_format.h"
#include "core/score/score_table.h"

namespace mixq::plan {

struct SyntheticSpec {
    int layers = 50;
    int64_t hidden = 4096;
    int64_t intermediate = 14336;
    int64_t q_dim = 4096;
    int64_t kv_dim = 1024;
    int64_t vocab = 0;       ///< > 0 adds embedding units: "tied_embedding", or "embed_tokens" + "lm_head"
    bool tied = false;
    bool distinct_shapes = false;  ///< every unit gets a random [N, K] (multiples of 64): no shared costs
    std::vector<quant::QuantFormat> candidates;  ///< empty: int4-g128, int4-g32, int8-g128
    uint64_t seed = 1;
};

/// Units in forward order with scale_bits 16 and model hash "synthetic".
score::ScoreTable make_synthetic_scores(const SyntheticSpec& spec);

/// Random plausible KLDs for the units of a real model layout (the scorer's table shape, without a scorer).
score::ScoreTable synthetic_scores_for_units(const std::vector<io::QuantUnit>& units,
                                             const std::vector<quant::QuantFormat>& candidates, uint64_t seed,
                                             int scale_bits = 16);

}  // namespace mixq::plan
