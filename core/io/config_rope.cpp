// SPDX-License-Identifier: MIT
// RoPE settings from config.json in both layouts: transformers 4 (top-level rope_theta + rope_scaling) and
// transformers 5 (rope_parameters {rope_theta, rope_type, factor, ...}). A rope_type or field MixQ does not
// implement, or two places that disagree, is refused in one line naming the key and both values.
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/io/config_parts.h"
#include "core/io/json_read.h"

namespace mixq::io {
using nlohmann::json;

namespace {

struct RopeDict {
    std::string where;  ///< "rope_parameters" or "rope_scaling"
    RopeScaling scaling;
    bool has_theta = false;
    double theta = 0;
};

std::string num(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

void check_partial_rotary(const json& v, const std::string& file, const std::string& key) {
    const double f = json_number(v, file, key);
    if (f != 1.0) fail(file, "key '" + key + "' = " + num(f) + " is not supported (MixQ rotates whole heads: 1.0)");
}

RopeDict parse_dict(const json& d, const std::string& where, const std::string& file) {
    if (!d.is_object()) fail(file, "key '" + where + "' must be an object or null, got " + json_brief(d));
    static const std::set<std::string> known = {"rope_type", "type", "rope_theta", "factor", "low_freq_factor",
                                                "high_freq_factor", "original_max_position_embeddings",
                                                "partial_rotary_factor"};
    for (auto it = d.begin(); it != d.end(); ++it)
        if (!known.count(it.key()) && !it->is_null())
            fail(file, "key '" + where + "." + it.key() + "' = " + json_brief(*it) +
                           " is not implemented by MixQ (it reads rope_type, rope_theta, factor, low_freq_factor, "
                           "high_freq_factor, original_max_position_embeddings)");
    RopeDict r;
    r.where = where;
    std::string type = "default";
    if (json_has(d, "rope_type")) type = json_string(d["rope_type"], file, where + ".rope_type");
    if (json_has(d, "type")) {
        const std::string t = json_string(d["type"], file, where + ".type");
        if (json_has(d, "rope_type") && t != type)
            fail(file, "key '" + where + ".type' = '" + t + "' and '" + where + ".rope_type' = '" + type + "' disagree");
        type = t;
    }
    if (type != "default" && type != "linear" && type != "llama3")
        fail(file, "key '" + where + ".rope_type' = '" + type + "' is not supported (default, linear, llama3 are)");
    r.scaling.type = type == "default" ? "none" : type;
    if (json_has(d, "rope_theta")) {
        r.has_theta = true;
        r.theta = json_number(d["rope_theta"], file, where + ".rope_theta");
        if (!(r.theta > 0)) fail(file, "key '" + where + ".rope_theta' must be positive, got " + num(r.theta));
    }
    if (json_has(d, "partial_rotary_factor")) check_partial_rotary(d["partial_rotary_factor"], file, where + ".partial_rotary_factor");
    auto need = [&](const char* k) -> const json& {
        if (!json_has(d, k)) fail(file, "key '" + where + "." + k + "' is missing (rope_type '" + type + "' needs it)");
        return d[k];
    };
    if (type == "linear" || type == "llama3") {
        r.scaling.factor = json_number(need("factor"), file, where + ".factor");
        if (!(r.scaling.factor > 0)) fail(file, "key '" + where + ".factor' must be positive, got " + num(r.scaling.factor));
    }
    if (type == "llama3") {
        r.scaling.low_freq_factor = json_number(need("low_freq_factor"), file, where + ".low_freq_factor");
        r.scaling.high_freq_factor = json_number(need("high_freq_factor"), file, where + ".high_freq_factor");
        r.scaling.original_max_position_embeddings = static_cast<int>(
            json_int(need("original_max_position_embeddings"), 1, INT32_MAX, file, where + ".original_max_position_embeddings"));
        if (!(r.scaling.high_freq_factor > r.scaling.low_freq_factor) || !(r.scaling.low_freq_factor > 0))
            fail(file, "key '" + where + "': high_freq_factor " + num(r.scaling.high_freq_factor) +
                           " must exceed low_freq_factor " + num(r.scaling.low_freq_factor) + " > 0");
    }
    return r;
}

std::string describe(const RopeScaling& s) {
    if (s.type == "none") return "default";
    std::string o = s.type + ", factor " + num(s.factor);
    if (s.type == "llama3")
        o += ", low_freq_factor " + num(s.low_freq_factor) + ", high_freq_factor " + num(s.high_freq_factor) +
             ", original_max_position_embeddings " + std::to_string(s.original_max_position_embeddings);
    return o;
}

bool same(const RopeScaling& a, const RopeScaling& b) {
    return a.type == b.type && a.factor == b.factor && a.low_freq_factor == b.low_freq_factor &&
           a.high_freq_factor == b.high_freq_factor && a.original_max_position_embeddings == b.original_max_position_embeddings;
}

}  // namespace

void parse_rope(const json& j, ModelConfig& c, const std::string& file) {
    std::vector<RopeDict> dicts;
    if (json_has(j, "rope_parameters")) dicts.push_back(parse_dict(j["rope_parameters"], "rope_parameters", file));
    if (json_has(j, "rope_scaling")) dicts.push_back(parse_dict(j["rope_scaling"], "rope_scaling", file));
    if (json_has(j, "partial_rotary_factor")) check_partial_rotary(j["partial_rotary_factor"], file, "partial_rotary_factor");

    // rope_theta: rope_parameters (transformers 5) or the top level (transformers 4); both must agree.
    c.rope_theta = 10000.0;  // the default of LlamaConfig, MistralConfig, Qwen2Config and Qwen3Config
    c.sources["rope_theta"] = "default (transformers' " + c.model_type + " default)";
    if (json_has(j, "rope_theta")) {
        c.rope_theta = json_number(j["rope_theta"], file, "rope_theta");
        if (!(c.rope_theta > 0)) fail(file, "key 'rope_theta' must be positive, got " + num(c.rope_theta));
        c.sources["rope_theta"] = "rope_theta";
    }
    for (const auto& d : dicts) {
        if (!d.has_theta) continue;
        if (json_has(j, "rope_theta") && d.theta != c.rope_theta)
            fail(file, "key 'rope_theta' = " + num(c.rope_theta) + " and '" + d.where + ".rope_theta' = " + num(d.theta) +
                           " disagree");
        c.rope_theta = d.theta;
        c.sources["rope_theta"] = d.where + ".rope_theta";
        break;
    }

    // Scaling: the first dict with a non-default type; a second one must say the same.
    c.rope_scaling = RopeScaling{};
    c.sources["rope_type"] = dicts.empty() ? "default (no rope_parameters / rope_scaling)" : dicts[0].where + ".rope_type";
    const RopeDict* chosen = nullptr;
    for (const auto& d : dicts) {
        if (d.scaling.type == "none") continue;
        if (chosen && !same(chosen->scaling, d.scaling))
            fail(file, "key '" + chosen->where + "' (" + describe(chosen->scaling) + ") and '" + d.where + "' (" +
                           describe(d.scaling) + ") disagree");
        if (!chosen) chosen = &d;
    }
    for (const auto& d : dicts)
        if (chosen && d.scaling.type == "none")
            fail(file, "key '" + chosen->where + "' (" + describe(chosen->scaling) + ") and '" + d.where +
                           "' (default) disagree");
    if (chosen) {
        c.rope_scaling = chosen->scaling;
        c.sources["rope_type"] = chosen->where + ".rope_type";
    }
}

}  // namespace mixq::io
