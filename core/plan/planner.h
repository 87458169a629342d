// SPDX-License-Identifier: MIT
// Planner: the bit-budget planner. From a ScoreTable it builds, once, the exact Pareto frontier of
// "minimize the summed unit KLD subject to average bits <= target" over one format per unit, so that every
// slider position is a binary search plus an O(units) walk back; also presets, manual pins and any explicit
// per-unit assignment as a Plan.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/plan/mckp_frontier.h"
#include "core/plan/plan.h"
#include "core/plan/presets.h"
#include "core/plan/unit_names.h"
#include "core/score/score_table.h"

namespace mixq::plan {

/// A unit fixed to a format. `unit` may be a unit name ("layers.3.qkv", "lm_head", "tied_embedding"), a tensor
/// name or a module name (mapped to the unit holding it).
struct Pin {
    std::string unit;
    quant::QuantFormat format;
};
/// Parses "NAME=FORMAT" (e.g. "layers.3.qkv=int8-g128"); throws mixq::Error on a missing '=' or a bad format.
Pin parse_pin(const std::string& spec);

struct PlannerOptions {
    std::vector<Pin> pins;
    /// Parameters outside the planned units (norms, biases, units the table lacks): counted at 2 bytes each in
    /// Plan::estimated_file_bytes, never in the average. See planner_options_for() in model_check.h.
    int64_t non_planned_params = 0;
    /// Decoder depth n for k_quant_mixed's use_more_bits; -1: 1 + the largest layer index in the table.
    int num_layers = -1;
    size_t max_frontier_entries = ParetoFrontier::kDefaultMaxEntries;
};

/// One point of the frontier: the cheapest plan reaching `predicted_kld`.
struct FrontierPoint {
    double avg_bits = 0.0;       ///< total_bits / planned weights
    double predicted_kld = 0.0;  ///< summed unit KLD (pinned units with an unscored format excluded)
    uint64_t total_bits = 0;
};

/// The options of each unit are the table's quantized candidates (deduplicated) plus the 16-bit float original,
/// which is always available with KLD 0 and 16 bits per weight. A choice costs its exact storage in bits
/// (QuantFormat::storage_bits with the table's scale_bits, summed over the unit's members). Units are the table's
/// units: Q/K/V of a block, gate/up, and a tied embedding/lm_head are one unit each, so they always share a format.
///
/// Thread safety: after construction (and after set_pins()), all const members may be called concurrently; they
/// never mutate. set_pins() must not run concurrently with anything else on the same object.
/// Costs: construction and set_pins() build the frontier (tens to hundreds of ms for ~200 units x 4 candidates);
/// plan_for_target() / formats_for_target() are a binary search plus O(units), a few microseconds.
class Planner {
public:
    /// Validates the table (at least one unit, shapes [N, K] > 0, finite KLDs >= 0) and the pins (unknown names
    /// throw "pin '<name>': no unit or tensor of that name ...") and builds the frontier.
    explicit Planner(const score::ScoreTable& table, PlannerOptions options = {});

    /// Replaces the pins and rebuilds the frontier. Pinned units leave the knapsack; their cost (and KLD, when
    /// the pinned format is a scored candidate or float) is added to every point.
    void set_pins(std::vector<Pin> pins);
    const std::vector<Pin>& pins() const { return m_pins; }  ///< resolved: unit names, table order

    /// The frontier, by increasing average bits and strictly decreasing predicted KLD. The first point is the
    /// smallest reachable average; the last is the all-float plan (plus pins).
    const std::vector<FrontierPoint>& frontier() const { return m_frontier; }
    double min_avg_bits() const { return m_frontier.front().avg_bits; }
    double max_avg_bits() const { return m_frontier.back().avg_bits; }
    /// False when a pinned unit has a format without a score, so frontier KLDs leave it out.
    bool frontier_kld_complete() const { return m_pins_kld_complete; }

    /// Largest total storage allowed by "average bits <= avg_bits" (a relative slack of 1e-12 absorbs the
    /// rounding of a printed average).
    uint64_t budget_bits(double avg_bits) const;
    /// Index of the optimal frontier point for the target. Throws mixq::Error "target X bits/weight is below the
    /// smallest reachable average, Y bits/weight" (or for a non-finite / non-positive target).
    size_t frontier_index(double avg_bits) const;
    /// The optimal plan: minimum summed KLD with average bits <= avg_bits (same errors as frontier_index()).
    Plan plan_for_target(double avg_bits) const;
    /// The plan of frontier point `index` (source Target, target_bits = that point's average).
    Plan plan_at(size_t index) const;
    /// Cheap form for interactive use: the chosen format of each unit (table order) at a frontier point.
    std::vector<quant::QuantFormat> formats_at(size_t index) const;

    /// A preset plan (see presets.h); the pins override the preset's choice for their units.
    Plan plan_preset(Preset preset, const PresetOptions& options = {}) const;
    /// An explicit assignment (one format per unit, table order); the pins override it. KLD is known where the
    /// format is a scored candidate of that unit or float.
    Plan plan_formats(const std::vector<quant::QuantFormat>& formats, PlanSource source) const;

    const score::ScoreTable& table() const { return m_table; }
    const UnitNames& names() const { return m_names; }
    const ParetoFrontier& pareto() const { return m_pareto; }
    int64_t total_weights() const { return m_total_weights; }
    int num_layers() const { return m_num_layers; }
    /// Wall time of the last frontier build, in milliseconds.
    double precompute_ms() const { return m_precompute_ms; }

private:
    struct Option {
        quant::QuantFormat format;
        uint64_t cost = 0;
        double kld = 0.0;
    };
    void rebuild();
    Plan make_plan(const std::vector<quant::QuantFormat>& formats) const;

    score::ScoreTable m_table;
    PlannerOptions m_options;
    UnitNames m_names;
    int m_num_layers = 0;
    int64_t m_total_weights = 0;
    std::vector<std::vector<Option>> m_unit_options;  ///< per unit: scored candidates, then float
    std::vector<Pin> m_pins;
    std::vector<int> m_pin_of_unit;                   ///< index into m_pins or -1
    std::vector<size_t> m_free_units;                 ///< knapsack item i -> unit index
    uint64_t m_pinned_cost = 0;
    double m_pinned_kld = 0.0;
    bool m_pins_kld_complete = true;
    ParetoFrontier m_pareto;
    std::vector<FrontierPoint> m_frontier;
    double m_precompute_ms = 0.0;
};

}  // namespace mixq::plan
