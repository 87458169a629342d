// SPDX-License-Identifier: MIT
// Override dictionaries (tensor/module name -> format): reading Olive's mixed_precision_info
// {"default": cfg, "overrides": {module: cfg}} and AutoRound's layer_config {module: {bits, group_size, sym}},
// normalizing them so Q/K/V, gate/up and a tied embedding/lm_head share one format, and writing a plan back out
// in both styles.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/plan/plan.h"
#include "core/plan/planner.h"
#include "core/score/score_table.h"

namespace mixq::plan {

struct OverrideSet {
    std::string style;  ///< "olive" or "autoround"
    std::optional<quant::QuantFormat> default_format;  ///< Olive's "default"; absent for AutoRound
    std::vector<std::pair<std::string, quant::QuantFormat>> entries;  ///< names as written, file order
};

/// Parses either style (also wrapped as {"mixed_precision_info": ...} or {"layer_config": ...}). A cfg is
/// {bits 4|8|16|32, group_size (or block_size) 16..256, symmetric (or sym), optional method "rtn"|"k_quant"};
/// missing fields come from the default (Olive: bits 4, group_size 128, asymmetric; AutoRound: group_size 128,
/// sym true). Errors: "<label>: <problem>".
OverrideSet parse_overrides_json(const std::string& text, const std::string& label);
OverrideSet load_overrides(const std::filesystem::path& path);

/// Olive's ranking (_quant_config_rank): more bits first, then the smaller block size; sym/method ignored.
bool more_precise(const quant::QuantFormat& a, const quant::QuantFormat& b);

struct NormalizedOverrides {
    std::map<std::string, quant::QuantFormat> tensors;  ///< canonical tensor name -> format, after normalization
    std::vector<Pin> units;  ///< one pin per unit an entry touches, table order
    int normalized = 0;      ///< tensor entries added or changed by the normalization
};

/// Maps each entry to its tensor and unit (unknown names throw "<label>: '<name>' is not a weight of this model")
/// and normalizes every unit an entry touches: all members (Q/K/V; gate/up; for a tied table, embedding and
/// lm_head) get the most precise format among the members' formats, a member without an entry counting with the
/// default format when there is one. `normalized` counts member formats that this changed or added.
NormalizedOverrides normalize_overrides(const OverrideSet& set, const score::ScoreTable& table, const std::string& label);

/// The plan as Olive's mixed_precision_info: "default" is the most common quantized format (by tensor count),
/// "overrides" lists every module that differs (float modules as {"bits": 16}). A tied unit is written as both
/// "model.embed_tokens" and "lm_head".
std::string plan_to_olive_json(const Plan& plan);
/// The plan as an AutoRound layer_config: every planned module -> {bits, group_size, sym} ({"bits": 16} for float).
std::string plan_to_autoround_json(const Plan& plan);

}  // namespace mixq::plan
