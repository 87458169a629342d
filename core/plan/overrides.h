// SPDX-License-Identifier: MIT
// Override files of other tools (module name -> format), read and written the way those tools read them:
// Olive's mixed_precision_info / quantization_config and AutoRound's layer_config / quantization_config
// (extra_config). Import normalizes them so Q/K/V, gate/up and a tied embedding/lm_head share one format;
// export writes a plan that the tool applies as planned, or says in one line what the tool will do instead.
// The rules and the tool commits they were checked against are in docs/interop.md.
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

/// The module a tensor belongs to, as the tools name it: the tensor name without ".weight".
std::string module_of(const std::string& tensor);


/// How an entry's name selects modules.
enum class NameMatch {
    Literal,        ///< equal to a module name (Olive's plain keys; AutoRound's exact layer names)
    FullRegex,      ///< Olive "re:<regex>": re.fullmatch against the module name
    SearchRegex,    ///< AutoRound: any other key, through to_standard_regex(), re.search against the module name
};

struct OverrideEntry {
    std::string name;     ///< as written in the file
    NameMatch match = NameMatch::Literal;
    std::string pattern;  ///< the regex (FullRegex / SearchRegex)
    quant::QuantFormat format;
};

struct OverrideSet {
    std::string style;  ///< "olive" or "autoround"
    std::string shape;  ///< what was read, e.g. "olive mixed_precision_info", "autoround extra_config"
    std::optional<quant::QuantFormat> default_format;  ///< the file's default; absent for a bare AutoRound layer_config
    std::vector<OverrideEntry> entries;  ///< file order
    /// Whether the default reaches lm_head / the input embeddings (Olive's lm_head / embeds; AutoRound quantizes
    /// only the decoder blocks and listed layers). nullopt: the file does not say (Olive's pass config decides).
    std::optional<bool> lm_head, embeds;
    /// Olive modules_to_not_convert: plain = substring of the module name, "re:" = fullmatch; those stay 16-bit.
    std::vector<std::string> not_convert;
    std::vector<std::string> notes;  ///< one line each: what the file leaves to the tool's own settings
};

/// Reads every shape the tools write (see docs/interop.md): Olive mixed_precision_info {"default", "overrides"},
/// wrapped as {"mixed_precision_info": ...}, in an Olive model config ({"model_attributes": ...}, also under
/// "config" or "input_model"), or Olive's quantization_config ({"quant_method": "olive", bits, symmetric,
/// group_size, lm_head, embeds, modules_to_not_convert, overrides}); AutoRound layer_config {module: cfg | preset
/// name} (also as {"layer_config": ...}) and AutoRound's quantization_config ({"quant_method": "auto-round",
/// bits, group_size, sym, data_type, extra_config, ...}); either quantization_config may sit in a config.json.
/// Unknown keys, formats MixQ cannot store and unknown preset names are errors "<label>: <where>: <problem>".
OverrideSet parse_overrides_json(const std::string& text, const std::string& label);
OverrideSet load_overrides(const std::filesystem::path& path);

/// Olive's ranking (_quant_config_rank): more bits first, then the smaller block size; sym/method ignored.
bool more_precise(const quant::QuantFormat& a, const quant::QuantFormat& b);

struct NormalizedOverrides {
    std::map<std::string, quant::QuantFormat> tensors;  ///< canonical tensor name -> format, after normalization
    std::vector<Pin> units;  ///< one pin per unit the file decides, table order
    int normalized = 0;      ///< tensor entries added or changed by the normalization
    std::vector<std::string> notes;  ///< one line each: what the import could not take literally
};

/// Matches every module of the model against the entries by the tool's rule (Olive: first matching key in file
/// order; AutoRound: exact names, then regexes in file order, a later one winning), applies the default where the
/// file's flags let it reach (lm_head / embeds / modules_to_not_convert) and normalizes each unit the file decides:
/// all members (Q/K/V; gate/up; a tied table's embedding and lm_head) get the most precise of their formats.
/// A literal name or regex that matches no weight throws "<label>: '<name>' is not a weight of this model ...".
NormalizedOverrides normalize_overrides(const OverrideSet& set, const score::ScoreTable& table, const std::string& label);

/// A tool's file for a plan, and one line per thing the tool cannot express or will do differently.
struct ToolExport {
    std::string text;
    std::vector<std::string> notes;
};

/// Olive mixed_precision_info (for an HfModel's model_attributes): "default" {bits, group_size, symmetric,
/// lm_head, embeds, modules_to_not_convert} where the plan's float linear modules are "re:^name$" entries, and
/// "overrides" {module: {bits, group_size, symmetric}} for every module that differs. A tied table is written
/// under both names. Notes: k-quant (Olive picks the algorithm per pass), group sizes Olive cannot apply.
ToolExport export_olive(const Plan& plan);
/// AutoRound layer_config: every linear module -> {bits, group_size, sym, data_type "int", act_bits 16}, float
/// ones {bits 16, data_type "float"}. Embeddings and a tied lm_head are left out (AutoRound drops them outside
/// GGUF) with a note giving the average bits AutoRound will produce; likewise its 32-multiple shape rule.
ToolExport export_autoround(const Plan& plan);

std::string plan_to_olive_json(const Plan& plan);      ///< export_olive(plan).text
std::string plan_to_autoround_json(const Plan& plan);  ///< export_autoround(plan).text

}  // namespace mixq::plan
