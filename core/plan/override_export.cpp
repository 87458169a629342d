// SPDX-License-Identifier: MIT
// A plan as Olive's mixed_precision_info and as AutoRound's layer_config, written with only the keys those tools
// accept, plus one note per thing the tool cannot express (sources: docs/interop.md).
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/plan/overrides.h"

namespace mixq::plan {
using nlohmann::ordered_json;

namespace {

/// (module name, K) of each module of a unit, as the tools name them; a tied table is also "lm_head".
std::vector<std::pair<std::string, int64_t>> modules_of(const PlannedUnit& u) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (size_t i = 0; i < u.members.size(); ++i)
        out.push_back({module_of(u.members[i]), i < u.shapes.size() && u.shapes[i].size() == 2 ? u.shapes[i][1] : 0});
    if (u.kind == io::UnitKind::TiedEmbedding) out.push_back({"lm_head", out.empty() ? 0 : out[0].second});
    return out;
}

bool is_head(const PlannedUnit& u) { return u.kind == io::UnitKind::LmHead || u.kind == io::UnitKind::TiedEmbedding; }
bool is_embed(const PlannedUnit& u) { return u.kind == io::UnitKind::Embedding || u.kind == io::UnitKind::TiedEmbedding; }

std::string py_escape(const std::string& s) {  // re.escape
    std::string o;
    for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') o += '\\';
        o += c;
    }
    return o;
}

std::string fmt_bits(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", x);
    return b;
}

/// "a, b, c (+3 more)"
std::string first_of(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 3; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 3 ? s + " (+" + std::to_string(v.size() - 3) + " more)" : s;
}

void kquant_note(const Plan& p, std::vector<std::string>& notes, const std::string& what) {
    int kq = 0, rtn = 0;
    for (const auto& u : p.units)
        if (!u.format.is_float()) (u.format.method == quant::Method::KQuant ? kq : rtn)++;
    if (kq) notes.push_back(std::to_string(kq) + " unit(s) planned with k-quant scales: " + what +
                            (rtn ? "; the " + std::to_string(rtn) + " RTN unit(s) get the same algorithm" : ""));
}

}  // namespace

ToolExport export_olive(const Plan& plan) {
    ToolExport out;
    // Default: the most common quantized format by tensor count (first seen wins a tie). Olive's default must be
    // 2, 4 or 8 bits (OliveHfQuantizationConfig.post_init), so a plan without one gets Olive's own defaults.
    std::vector<std::pair<quant::QuantFormat, size_t>> counts;
    for (const auto& u : plan.units) {
        if (u.format.is_float()) continue;
        bool found = false;
        for (auto& [f, n] : counts)
            if (f == u.format) {
                n += u.members.size();
                found = true;
            }
        if (!found) counts.push_back({u.format, u.members.size()});
    }
    quant::QuantFormat dflt = quant::QuantFormat::parse("int4-g128");
    size_t best = 0;
    for (const auto& [f, n] : counts)
        if (n > best) {
            best = n;
            dflt = f;
        }
    if (counts.empty())
        out.notes.push_back("every unit is 16-bit: Olive needs a 2/4/8-bit default, written as int4-g128 and applied to "
                            "no module (all are in modules_to_not_convert or excluded by lm_head/embeds false)");

    bool lm_head = false, embeds = false;
    ordered_json skip = ordered_json::array();
    ordered_json ov = ordered_json::object();
    std::vector<std::string> indivisible;
    for (const auto& u : plan.units) {
        if (!u.format.is_float()) {
            lm_head = lm_head || is_head(u);
            embeds = embeds || is_embed(u);
        }
        for (const auto& [m, k] : modules_of(u)) {
            if (u.format.is_float()) {
                // lm_head / embeddings stay float through the lm_head / embeds flags; other modules by exact pattern,
                // in the form Olive itself writes (quant_utils.prepare_model: "re:^<re.escape(name)>$").
                if (!is_head(u) && !is_embed(u)) skip.push_back("re:^" + py_escape(m) + "$");
                continue;
            }
            if (k > 0 && k % u.format.block_size != 0)
                indivisible.push_back(m + " (" + std::to_string(k) + " % " + std::to_string(u.format.block_size) + ")");
            if (u.format == dflt) continue;
            // OliveHfQuantizationOverrideConfig has only bits, symmetric, group_size.
            ov[m] = {{"bits", u.format.bits}, {"group_size", u.format.block_size}, {"symmetric", u.format.symmetric}};
        }
    }
    ordered_json d{{"bits", dflt.bits}, {"group_size", dflt.block_size}, {"symmetric", dflt.symmetric},
                   {"lm_head", lm_head}, {"embeds", embeds}};
    if (!skip.empty()) d["modules_to_not_convert"] = skip;
    ordered_json j;
    j["default"] = d;
    j["overrides"] = ov;
    out.text = j.dump(2) + "\n";

    kquant_note(plan, out.notes, "Olive picks the algorithm per pass, not per module: apply this file with the KQuant pass "
                                 "(\"type\": \"KQuant\") instead of Rtn or Gptq");
    if (!indivisible.empty())
        out.notes.push_back("Olive needs in_features divisible by group_size and stops with an assertion on " +
                            std::to_string(indivisible.size()) + " module(s): " + first_of(indivisible));
    return out;
}

ToolExport export_autoround(const Plan& plan) {
    ToolExport out;
    ordered_json j = ordered_json::object();
    Plan actual = plan;  // what AutoRound will produce
    std::vector<std::string> dropped, forced;
    for (size_t i = 0; i < plan.units.size(); ++i) {
        const auto& u = plan.units[i];
        if (is_embed(u)) {
            // Outside GGUF AutoRound does not quantize embeddings (resolver: not a supported layer type) and pops a
            // tied lm_head with a warning (apply_layer_config_special_cases), so neither is written.
            if (!u.format.is_float()) {
                for (const auto& [m, k] : modules_of(u)) dropped.push_back(m);
                actual.units[i].format = quant::QuantFormat::float16();
            }
            continue;
        }
        bool off32 = false;  // int weight-only: a layer with a dimension not a multiple of 32 is kept 16-bit
        for (const auto& s : u.shapes)
            if (s.size() == 2 && (s[0] % 32 || s[1] % 32)) off32 = true;
        for (const auto& [m, k] : modules_of(u)) {
            if (u.format.is_float()) {
                j[m] = {{"bits", 16}, {"data_type", "float"}};
            } else {
                j[m] = {{"bits", u.format.bits}, {"group_size", u.format.block_size}, {"sym", u.format.symmetric},
                        {"data_type", "int"}, {"act_bits", 16}};
                if (off32) forced.push_back(m);
            }
        }
        if (off32 && !u.format.is_float()) actual.units[i].format = quant::QuantFormat::float16();
    }
    out.text = j.dump(2) + "\n";
    if (!dropped.empty())
        out.notes.push_back("AutoRound quantizes embeddings only for GGUF formats and drops a tied lm_head, so " +
                            first_of(dropped) + " stay 16-bit (left out of this file)");
    if (!forced.empty())
        out.notes.push_back("AutoRound keeps layers with a dimension not a multiple of 32 in 16 bits: " + first_of(forced));
    if (!dropped.empty() || !forced.empty()) {
        finalize_plan(actual);
        out.notes.push_back("AutoRound's result averages " + fmt_bits(actual.avg_bits) + " bits/weight, not the planned " +
                            fmt_bits(plan.avg_bits));
    }
    kquant_note(plan, out.notes, "AutoRound has no per-layer algorithm and tunes every layer with its own rounding "
                                 "(--iters 0 gives plain RTN)");
    return out;
}

std::string plan_to_olive_json(const Plan& plan) { return export_olive(plan).text; }
std::string plan_to_autoround_json(const Plan& plan) { return export_autoround(plan).text; }

}  // namespace mixq::plan
