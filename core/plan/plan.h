// SPDX-License-Identifier: MIT
// Plan: one chosen format per quantization unit, with its exact storage, predicted KLD and the totals the GUI,
// plan.json and the exporter read (average bits, predicted total KLD, estimated file size, format counts).
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/io/model_layout.h"
#include "core/quant/quant_format.h"

namespace mixq::plan {

/// How a plan was made.
enum class PlanSource { Target, Preset, Import };
const char* plan_source_name(PlanSource s);  ///< "target", "preset", "import"

struct PlannedUnit {
    std::string name;  ///< "layers.3.qkv", "lm_head", "tied_embedding", ...
    io::UnitKind kind = io::UnitKind::QKV;
    int layer = -1;
    std::vector<std::string> members;          ///< tensor names
    std::vector<std::vector<int64_t>> shapes;  ///< [N, K] per member
    quant::QuantFormat format;
    uint64_t storage_bits = 0;  ///< exact: sum of QuantFormat::storage_bits over members
    uint64_t bytes = 0;         ///< sum over members of ceil(member bits / 8)
    int64_t weights = 0;
    double kld = 0.0;           ///< predicted KLD of this unit; meaningful only when has_kld
    bool has_kld = true;        ///< false when the format is not in the score table (preset / pin / import)
    bool pinned = false;
};

struct Plan {
    std::string model_path;
    std::string model_hash;
    PlanSource source = PlanSource::Target;
    double target_bits = std::nan("");  ///< the requested average (source Target), else NaN
    std::string preset;                 ///< preset name (source Preset), else ""
    int scale_bits = 16;
    /// The weight basis the scores were computed in, and so the one the plan's formats are chosen for: "none" or
    /// "hadamard:seed=N" (score::ScoreTable::rotation). Export writes the weights in this basis.
    std::string rotation = "none";
    /// The kind of scores the formats were chosen from: "exact" or "fast" (score::ScoreTable::mode; a plan from fast
    /// scores is provisional: fast and exact scores can rank units differently).
    std::string score_mode = "exact";
    std::vector<PlannedUnit> units;      ///< in score-table order
    std::map<std::string, std::string> pins;  ///< unit name -> format name
    int normalized_overrides = 0;        ///< override entries added/changed by QKV / gate_up / tied normalization
    int64_t non_planned_params = 0;      ///< parameters outside the planned units (norms, ...), stored at 2 bytes

    // Totals, filled by finalize_plan().
    uint64_t total_bits = 0;             ///< exact storage of the planned units
    int64_t total_weights = 0;           ///< weights of the planned units
    double avg_bits = 0.0;               ///< total_bits / total_weights
    double predicted_kld = 0.0;          ///< sum of the known unit KLDs
    int units_without_kld = 0;           ///< > 0: predicted_kld is partial
    uint64_t estimated_file_bytes = 0;   ///< sum of unit bytes + 2 * non_planned_params
    int int4_units = 0, int8_units = 0, float_units = 0;

    bool kld_complete() const { return units_without_kld == 0; }
    const PlannedUnit* find(const std::string& unit) const {
        for (const auto& u : units)
            if (u.name == unit) return &u;
        return nullptr;
    }
};

/// Exact storage of one unit (its members' shapes) in `f`, in bits and in bytes (ceil per member).
uint64_t unit_storage_bits(const std::vector<std::vector<int64_t>>& shapes, const quant::QuantFormat& f, int scale_bits);
uint64_t unit_storage_bytes(const std::vector<std::vector<int64_t>>& shapes, const quant::QuantFormat& f, int scale_bits);

/// Recomputes every unit's storage_bits / bytes / weights from its shapes and format, then all plan totals.
void finalize_plan(Plan& p);

/// "4.5312" style: `x` rounded UP at 4 decimals, so that passing the printed value back as a target is feasible.
std::string format_bits_ceil(double x);

}  // namespace mixq::plan
