// SPDX-License-Identifier: MIT
// Olive / AutoRound override files: parsing, group normalization and export.
#include "core/plan/overrides.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/plan/unit_names.h"

namespace mixq::plan {
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

struct CfgDefaults {
    int bits = 4;
    int group_size = 128;
    bool symmetric = false;
    quant::Method method = quant::Method::RTN;
};

quant::QuantFormat parse_cfg(const json& c, const CfgDefaults& d, const std::string& where) {
    if (!c.is_object()) fail(where, "expected an object like {\"bits\": 4, \"group_size\": 128, \"symmetric\": false}");
    int bits = d.bits;
    int gs = d.group_size;
    bool sym = d.symmetric;
    quant::Method method = d.method;
    try {
        if (c.contains("bits")) bits = c.at("bits").get<int>();
        if (c.contains("group_size")) gs = c.at("group_size").get<int>();
        if (c.contains("block_size")) gs = c.at("block_size").get<int>();
        if (c.contains("symmetric")) sym = c.at("symmetric").get<bool>();
        if (c.contains("sym")) sym = c.at("sym").get<bool>();
        if (c.contains("data_type")) {
            const auto dt = c.at("data_type").get<std::string>();
            if (dt == "float" || dt == "fp" || dt == "fp16" || dt == "bf16" || dt == "float16")
                bits = 16;
            else if (dt != "int")
                fail(where, "data_type '" + dt + "' is not supported (int or float)");
        }
        if (c.contains("method")) {
            const auto m = c.at("method").get<std::string>();
            if (m == "k_quant" || m == "kquant")
                method = quant::Method::KQuant;
            else if (m == "rtn" || m == "default")
                method = quant::Method::RTN;
            else
                fail(where, "method '" + m + "' is not supported (rtn or k_quant)");
        }
    } catch (const json::exception& e) {
        fail(where, std::string("bad field type: ") + e.what());
    }
    if (bits == 16 || bits == 32) return quant::QuantFormat::float16();
    if (bits != 4 && bits != 8) fail(where, "bits " + std::to_string(bits) + " not supported (4, 8 or 16)");
    if (gs == -1 || gs == 0)
        fail(where, std::string("group_size ") + std::to_string(gs) + " (per-" + (gs ? "channel" : "tensor") +
                        ") is not supported; use 16, 32, 64, 128 or 256");
    if (gs < 16 || gs > 256 || (gs & (gs - 1)) != 0)
        fail(where, "group_size " + std::to_string(gs) + " not supported (16, 32, 64, 128 or 256)");
    quant::QuantFormat f;
    f.bits = bits;
    f.block_size = gs;
    f.symmetric = sym;
    f.method = method;
    return f;
}

ordered_json cfg_json(const quant::QuantFormat& f, const char* sym_key) {
    if (f.is_float()) return ordered_json{{"bits", 16}};
    ordered_json c{{"bits", f.bits}, {"group_size", f.block_size}, {sym_key, f.symmetric}};
    if (f.method == quant::Method::KQuant) c["method"] = "k_quant";
    return c;
}

std::string module_of(const std::string& tensor) {
    const std::string suf = ".weight";
    if (tensor.size() > suf.size() && tensor.compare(tensor.size() - suf.size(), suf.size(), suf) == 0)
        return tensor.substr(0, tensor.size() - suf.size());
    return tensor;
}

/// Module names of a planned unit, as override files name them.
std::vector<std::string> modules_of(const PlannedUnit& u) {
    std::vector<std::string> out;
    for (const auto& m : u.members) out.push_back(module_of(m));
    if (u.kind == io::UnitKind::TiedEmbedding) out.push_back("lm_head");
    return out;
}

}  // namespace

OverrideSet parse_overrides_json(const std::string& text, const std::string& label) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(label, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail(label, "expected a JSON object (Olive mixed_precision_info or AutoRound layer_config)");
    if (j.contains("mixed_precision_info")) j = j["mixed_precision_info"];
    if (j.contains("layer_config")) j = j["layer_config"];
    if (!j.is_object()) fail(label, "expected a JSON object (Olive mixed_precision_info or AutoRound layer_config)");
    OverrideSet s;
    if (j.contains("overrides") || j.contains("default")) {
        s.style = "olive";
        CfgDefaults d;
        if (j.contains("default")) {
            const auto f = parse_cfg(j["default"], d, label + ": default");
            s.default_format = f;
            if (!f.is_float()) {
                d.bits = f.bits;
                d.group_size = f.block_size;
                d.symmetric = f.symmetric;
                d.method = f.method;
            } else {
                d.bits = 16;
            }
        }
        if (j.contains("overrides")) {
            if (!j["overrides"].is_object()) fail(label, "\"overrides\" must be an object of module -> cfg");
            for (const auto& [k, v] : j["overrides"].items()) s.entries.push_back({k, parse_cfg(v, d, label + ": '" + k + "'")});
        }
    } else {
        s.style = "autoround";
        CfgDefaults d;
        d.symmetric = true;
        for (const auto& [k, v] : j.items()) s.entries.push_back({k, parse_cfg(v, d, label + ": '" + k + "'")});
    }
    return s;
}

OverrideSet load_overrides(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), "cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_overrides_json(ss.str(), path.string());
}

bool more_precise(const quant::QuantFormat& a, const quant::QuantFormat& b) {
    if (a.bits != b.bits) return a.bits > b.bits;
    if (a.is_float()) return false;
    return a.block_size < b.block_size;
}

NormalizedOverrides normalize_overrides(const OverrideSet& set, const score::ScoreTable& table, const std::string& label) {
    const UnitNames names(table);
    // Entries by canonical tensor; a tensor named twice keeps its most precise format.
    std::map<std::string, quant::QuantFormat> by_tensor;
    std::vector<bool> touched(table.units.size(), false);
    for (const auto& [name, f] : set.entries) {
        std::string t = names.canonical_tensor(name);
        if (t.empty()) {
            // A unit name ("layers.3.qkv") stands for all of its members.
            if (auto u = names.find(name)) {
                for (const auto& m : table.units[*u].members) {
                    auto it = by_tensor.find(m);
                    if (it == by_tensor.end() || more_precise(f, it->second)) by_tensor[m] = f;
                }
                touched[*u] = true;
                continue;
            }
            fail(label, "'" + name + "' is not a weight of this model (units are e.g. " + names.examples() + ")");
        }
        auto it = by_tensor.find(t);
        if (it == by_tensor.end() || more_precise(f, it->second)) by_tensor[t] = f;
        touched[*names.find(name)] = true;
    }
    NormalizedOverrides out;
    for (size_t u = 0; u < table.units.size(); ++u) {
        if (!touched[u]) continue;
        const auto& unit = table.units[u];
        std::vector<std::string> group = unit.members;
        if (unit.kind == io::UnitKind::TiedEmbedding) group.push_back("lm_head.weight");
        // Most precise among the members' effective formats (entry, else the default); first one wins a tie.
        std::optional<quant::QuantFormat> best;
        for (const auto& m : group) {
            std::optional<quant::QuantFormat> eff;
            if (auto it = by_tensor.find(m); it != by_tensor.end())
                eff = it->second;
            else
                eff = set.default_format;
            if (eff && (!best || more_precise(*eff, *best))) best = eff;
        }
        for (const auto& m : group) {
            std::optional<quant::QuantFormat> eff;
            if (auto it = by_tensor.find(m); it != by_tensor.end())
                eff = it->second;
            else
                eff = set.default_format;
            // A member without an entry whose default already equals the group format does not change.
            if (!eff || *eff != *best) ++out.normalized;
        }
        for (const auto& m : unit.members) out.tensors[m] = *best;
        out.units.push_back({unit.name, *best});
    }
    return out;
}

std::string plan_to_olive_json(const Plan& plan) {
    // Default: the most common quantized format by tensor count (first seen wins a tie).
    std::vector<std::pair<quant::QuantFormat, int>> counts;
    for (const auto& u : plan.units) {
        if (u.format.is_float()) continue;
        bool found = false;
        for (auto& [f, n] : counts)
            if (f == u.format) {
                n += int(u.members.size());
                found = true;
            }
        if (!found) counts.push_back({u.format, int(u.members.size())});
    }
    quant::QuantFormat dflt = quant::QuantFormat::float16();
    int best = -1;
    for (const auto& [f, n] : counts)
        if (n > best) {
            best = n;
            dflt = f;
        }
    ordered_json j;
    j["default"] = cfg_json(dflt, "symmetric");
    ordered_json ov = ordered_json::object();
    for (const auto& u : plan.units) {
        if (u.format == dflt) continue;
        for (const auto& m : modules_of(u)) ov[m] = cfg_json(u.format, "symmetric");
    }
    j["overrides"] = ov;
    return j.dump(2) + "\n";
}

std::string plan_to_autoround_json(const Plan& plan) {
    ordered_json j = ordered_json::object();
    for (const auto& u : plan.units)
        for (const auto& m : modules_of(u)) j[m] = cfg_json(u.format, "sym");
    return j.dump(2) + "\n";
}

}  // namespace mixq::plan
