// SPDX-License-Identifier: MIT
// plan.json reading and writing.
#include "core/plan/plan_json.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/input_file.h"

namespace mixq::plan {
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const char* method_name(const quant::QuantFormat& f) {
    if (f.is_float()) return "float";
    return f.method == quant::Method::KQuant ? "kquant" : "rtn";
}

io::UnitKind parse_kind(const std::string& s, const std::string& where) {
    for (auto k : {io::UnitKind::QKV, io::UnitKind::O, io::UnitKind::GateUp, io::UnitKind::Down, io::UnitKind::LmHead,
                   io::UnitKind::Embedding, io::UnitKind::TiedEmbedding})
        if (s == io::unit_kind_name(k)) return k;
    fail(where, "unknown unit kind '" + s + "'");
}

PlanSource parse_source(const std::string& s, const std::string& where) {
    for (auto k : {PlanSource::Target, PlanSource::Preset, PlanSource::Import})
        if (s == plan_source_name(k)) return k;
    fail(where, "unknown source '" + s + "' (target, preset or import)");
}

}  // namespace

std::string plan_to_json(const Plan& p) {
    ordered_json j;
    j["schema"] = "mixq.plan/1";
    j["model"] = {{"path", p.model_path}, {"hash", p.model_hash}};
    j["source"] = plan_source_name(p.source);
    j["target_bits"] = std::isfinite(p.target_bits) ? ordered_json(p.target_bits) : ordered_json(nullptr);
    j["preset"] = p.preset.empty() ? ordered_json(nullptr) : ordered_json(p.preset);
    j["scale_bits"] = p.scale_bits;
    j["rotation"] = p.rotation;
    j["scores_mode"] = p.score_mode;
    j["average_bits"] = p.avg_bits;
    j["total_bits"] = p.total_bits;
    j["planned_weights"] = p.total_weights;
    // Unknown is never written as a number: with any unit's format unscored the total is null, and the scored
    // units' sum and the unscored units are listed beside it.
    j["predicted_kld"] = p.kld_complete() ? ordered_json(p.predicted_kld) : ordered_json(nullptr);
    j["predicted_kld_complete"] = p.kld_complete();
    j["predicted_kld_of_scored_units"] = p.predicted_kld;
    ordered_json unscored = ordered_json::array();
    for (const auto& u : p.units)
        if (!u.has_kld) unscored.push_back(u.name);
    j["units_without_kld_names"] = unscored;
    j["units_without_kld"] = p.units_without_kld;
    j["estimated_file_bytes"] = p.estimated_file_bytes;
    j["non_planned_params"] = p.non_planned_params;
    j["counts"] = {{"int4", p.int4_units}, {"int8", p.int8_units}, {"float16", p.float_units}};
    ordered_json pins = ordered_json::object();
    for (const auto& [u, f] : p.pins) pins[u] = f;
    j["pins"] = pins;
    j["normalized_overrides"] = p.normalized_overrides;
    ordered_json units = ordered_json::array();
    ordered_json tensors = ordered_json::object();
    for (const auto& u : p.units) {
        ordered_json ju;
        ju["name"] = u.name;
        ju["kind"] = io::unit_kind_name(u.kind);
        ju["layer"] = u.layer;
        ju["format"] = u.format.name();
        ju["bits"] = u.format.is_float() ? 16 : u.format.bits;
        ju["block_size"] = u.format.is_float() ? 0 : u.format.block_size;
        ju["symmetric"] = u.format.is_float() ? false : u.format.symmetric;
        ju["method"] = method_name(u.format);
        ju["storage_bits"] = u.storage_bits;
        ju["bytes"] = u.bytes;
        ju["weights"] = u.weights;
        ju["kld"] = u.has_kld ? ordered_json(u.kld) : ordered_json(nullptr);
        ju["pinned"] = u.pinned;
        ju["members"] = u.members;
        units.push_back(ju);
        for (size_t m = 0; m < u.members.size(); ++m)
            tensors[u.members[m]] = {{"bits", ju["bits"]},          {"block_size", ju["block_size"]},
                                     {"symmetric", ju["symmetric"]}, {"method", ju["method"]},
                                     {"shape", u.shapes[m]},         {"unit", u.name}};
    }
    j["units"] = units;
    j["tensors"] = tensors;
    return j.dump(1) + "\n";
}

Plan plan_from_json(const std::string& text, const std::string& label) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(label, std::string("not valid JSON: ") + e.what());
    }
    Plan p;
    try {
        if (!j.is_object() || j.value("schema", "") != "mixq.plan/1")
            fail(label, "not a MixQ plan file (schema mixq.plan/1 expected)");
        p.model_path = j.at("model").at("path").get<std::string>();
        p.model_hash = j.at("model").at("hash").get<std::string>();
        p.source = parse_source(j.at("source").get<std::string>(), label);
        if (j.contains("target_bits") && !j["target_bits"].is_null()) p.target_bits = j["target_bits"].get<double>();
        if (j.contains("preset") && !j["preset"].is_null()) p.preset = j["preset"].get<std::string>();
        p.scale_bits = j.at("scale_bits").get<int>();
        if (p.scale_bits <= 0 || p.scale_bits > 32) fail(label, "scale_bits must be 1..32");
        p.rotation = j.value("rotation", std::string("none"));
        p.score_mode = j.value("scores_mode", std::string("exact"));
        if (p.score_mode != "exact" && p.score_mode != "fast") fail(label, "scores_mode must be exact or fast");
        p.non_planned_params = j.value("non_planned_params", int64_t(0));
        if (p.non_planned_params < 0) fail(label, "non_planned_params must be >= 0");
        p.normalized_overrides = j.value("normalized_overrides", 0);
        if (j.contains("pins"))
            for (const auto& [u, f] : j.at("pins").items()) {
                p.pins[u] = f.get<std::string>();
                quant::QuantFormat::parse(p.pins[u]);
            }
        const auto& tensors = j.at("tensors");
        if (!tensors.is_object()) fail(label, "\"tensors\" must be an object");
        const auto& units = j.at("units");
        if (!units.is_array() || units.empty()) fail(label, "\"units\" must be a non-empty array");
        std::set<std::string> names, used;
        for (const auto& ju : units) {
            PlannedUnit u;
            u.name = ju.at("name").get<std::string>();
            const std::string where = label + ": unit '" + u.name + "'";
            if (!names.insert(u.name).second) fail(where, "appears twice");
            u.kind = parse_kind(ju.at("kind").get<std::string>(), where);
            u.layer = ju.at("layer").get<int>();
            u.format = quant::QuantFormat::parse(ju.at("format").get<std::string>());
            u.pinned = ju.value("pinned", false);
            if (ju.contains("kld") && !ju["kld"].is_null()) {
                u.kld = ju["kld"].get<double>();
                if (!std::isfinite(u.kld) || u.kld < 0) fail(where, "kld must be finite and >= 0");
            } else {
                u.has_kld = false;
            }
            u.members = ju.at("members").get<std::vector<std::string>>();
            if (u.members.empty()) fail(where, "has no members");
            for (const auto& m : u.members) {
                if (!tensors.contains(m)) fail(where, "member '" + m + "' is missing from \"tensors\"");
                if (!used.insert(m).second) fail(where, "member '" + m + "' belongs to two units");
                const auto& t = tensors[m];
                const std::string tw = label + ": tensor '" + m + "'";
                const int bits = t.at("bits").get<int>();
                const int bs = t.at("block_size").get<int>();
                const bool sym = t.at("symmetric").get<bool>();
                const std::string method = t.at("method").get<std::string>();
                const bool ok = u.format.is_float()
                                    ? (bits == 16)
                                    : (bits == u.format.bits && bs == u.format.block_size && sym == u.format.symmetric &&
                                       method == method_name(u.format));
                if (!ok) fail(tw, "format differs from its unit " + u.name + " (" + u.format.name() + ")");
                if (t.contains("unit") && t["unit"].get<std::string>() != u.name)
                    fail(tw, "names unit '" + t["unit"].get<std::string>() + "' but is a member of " + u.name);
                auto shape = t.at("shape").get<std::vector<int64_t>>();
                if (shape.size() != 2 || shape[0] <= 0 || shape[1] <= 0) fail(tw, "shape must be [N, K] with N, K > 0");
                u.shapes.push_back(shape);
            }
            p.units.push_back(std::move(u));
        }
        for (const auto& [t, v] : tensors.items())
            if (!used.count(t)) fail(label, "tensor '" + t + "' belongs to no unit");
        for (const auto& [u, f] : p.pins)
            if (!names.count(u)) fail(label, "pin names unknown unit '" + u + "'");
        finalize_plan(p);
        if (j.contains("average_bits")) {
            const double stored = j["average_bits"].get<double>();
            if (std::fabs(stored - p.avg_bits) > 1e-9 * std::max(1.0, p.avg_bits))
                fail(label, "average_bits " + std::to_string(stored) + " does not match its tensors (" +
                                std::to_string(p.avg_bits) + "); the file was edited or is corrupt");
        }
    } catch (const json::exception& e) {
        fail(label, std::string("malformed plan file: ") + e.what());
    } catch (const Error& e) {
        const std::string m = e.what();
        if (m.rfind(label, 0) == 0) throw;
        fail(label, m);
    }
    return p;
}

void save_plan(const Plan& plan, const std::filesystem::path& path) { write_file_atomic(path, plan_to_json(plan)); }

Plan load_plan(const std::filesystem::path& path) {
    return plan_from_json(mixq::read_input_file(path, mixq::kMaxJsonBytes), path.string());
}

}  // namespace mixq::plan
