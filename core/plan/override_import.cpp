// SPDX-License-Identifier: MIT
// Reading Olive and AutoRound override files in every shape those tools write, with their own default rules
// (sources: docs/interop.md). Anything MixQ cannot store, and any key the tool itself would not read, is an error.
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/common/input_file.h"
#include "core/plan/overrides.h"

namespace mixq::plan {
using json = nlohmann::ordered_json;  // file order matters: Olive takes the first matching key, AutoRound the last regex

namespace {

[[noreturn]] void bad(const std::string& label, const std::string& where, const std::string& problem) {
    fail(label, (where.empty() ? "" : where + ": ") + problem);
}

std::string keys_of(const std::set<std::string>& allowed) {
    std::string s;
    for (const auto& k : allowed) s += (s.empty() ? "" : ", ") + k;
    return s;
}

void check_keys(const json& obj, const std::set<std::string>& allowed, const std::string& label, const std::string& where,
                const std::string& why) {
    for (const auto& [k, v] : obj.items())
        if (!allowed.count(k)) bad(label, where, "unknown key '" + k + "' (" + why + ": " + keys_of(allowed) + ")");
}

template <class T>
std::optional<T> opt(const json& obj, const char* key, const std::string& label, const std::string& where) {
    if (!obj.contains(key) || obj.at(key).is_null()) return std::nullopt;
    try {
        return obj.at(key).get<T>();
    } catch (const json::exception&) {
        bad(label, where, std::string("'") + key + "' has the wrong type (" + obj.at(key).dump() + ")");
    }
}

/// An integer format MixQ can store: bits 4 / 8, a power-of-two group of 16..256.
quant::QuantFormat int_format(int bits, int gs, bool sym, const std::string& label, const std::string& where) {
    if (bits != 4 && bits != 8) bad(label, where, "bits " + std::to_string(bits) + " not supported (4, 8 or 16)");
    if (gs == -1 || gs == 0)
        bad(label, where, "group_size " + std::to_string(gs) + " (per-" + (gs ? "channel" : "tensor") +
                              ") is not supported; use 16, 32, 64, 128 or 256");
    if (gs < 16 || gs > 256 || (gs & (gs - 1)) != 0)
        bad(label, where, "group_size " + std::to_string(gs) + " not supported (16, 32, 64, 128 or 256)");
    quant::QuantFormat f;
    f.bits = bits;
    f.block_size = gs;
    f.symmetric = sym;
    return f;
}

// ---- Olive ---------------------------------------------------------------------------------------------------

struct OliveCfg {
    int bits = 4;  // Olive's pass defaults (quant_utils.get_quantizer_config): bits 4, group_size 128, sym false
    int group_size = 128;
    bool symmetric = false;
};

/// An Olive override value: OliveHfQuantizationOverrideConfig(**override) takes only bits, symmetric, group_size;
/// missing (or null) fields come from the top level (get_qlinear_init_args).
quant::QuantFormat olive_override(const json& v, const OliveCfg& d, const std::string& label, const std::string& where) {
    if (!v.is_object()) bad(label, where, "expected an object like {\"bits\": 8, \"group_size\": 32, \"symmetric\": true}");
    check_keys(v, {"bits", "group_size", "symmetric"}, label, where, "Olive overrides take only");
    const int bits = opt<int>(v, "bits", label, where).value_or(d.bits);
    if (bits >= 16)
        bad(label, where, "bits " + std::to_string(bits) +
                              ": Olive quantizes only 2, 4 or 8 bits; a 16-bit module goes in modules_to_not_convert");
    return int_format(bits, opt<int>(v, "group_size", label, where).value_or(d.group_size),
                      opt<bool>(v, "symmetric", label, where).value_or(d.symmetric), label, where);
}

void olive_overrides(const json& ov, const OliveCfg& d, OverrideSet& s, const std::string& label) {
    if (ov.is_null()) return;
    if (!ov.is_object()) bad(label, "overrides", "must be an object of module -> {bits, group_size, symmetric}");
    for (const auto& [k, v] : ov.items()) {
        OverrideEntry e;
        e.name = k;
        if (k.rfind("re:", 0) == 0) {  // patterns.match_override: "re:" -> re.fullmatch, else literal equality
            e.match = NameMatch::FullRegex;
            e.pattern = k.substr(3);
        }
        e.format = olive_override(v, d, label, "'" + k + "'");
        s.entries.push_back(e);
    }
}

void olive_flags(const json& obj, OverrideSet& s, const std::string& label, const std::string& where) {
    s.lm_head = opt<bool>(obj, "lm_head", label, where);
    s.embeds = opt<bool>(obj, "embeds", label, where);
    opt<bool>(obj, "moe", label, where);  // type check only: no MoE experts in the models MixQ plans
    opt<bool>(obj, "quantize_vision", label, where);
    if (obj.contains("modules_to_not_convert") && !obj["modules_to_not_convert"].is_null()) {
        if (!obj["modules_to_not_convert"].is_array()) bad(label, where, "modules_to_not_convert must be a list of names");
        for (const auto& p : obj["modules_to_not_convert"]) {
            if (!p.is_string()) bad(label, where, "modules_to_not_convert must be a list of names");
            s.not_convert.push_back(p.get<std::string>());
        }
    }
}

/// mixed_precision_info {"default": {...}, "overrides": {...}} (SelectiveMixedPrecision); get_quant_config copies
/// each non-null "default" key over the pass's quant config, so the default may also carry the pass-level flags.
OverrideSet olive_mp_info(const json& j, const std::string& label) {
    const std::string where = "mixed_precision_info";
    if (!j.is_object()) bad(label, where, "expected {\"default\": {...}, \"overrides\": {...}}");
    check_keys(j, {"default", "overrides"}, label, where, "mixed_precision_info has only");
    if (!j.contains("default")) bad(label, where, "no \"default\" (Olive reads mixed_precision_info[\"default\"])");
    const json& d = j["default"];
    if (!d.is_object()) bad(label, "default", "expected an object like {\"bits\": 4, \"group_size\": 128}");
    check_keys(d, {"bits", "group_size", "symmetric", "lm_head", "embeds", "moe", "quantize_vision", "modules_to_not_convert"},
               label, "default", "Olive's quant config reads");
    OverrideSet s;
    s.style = "olive";
    s.shape = "olive mixed_precision_info";
    OliveCfg c;
    for (const auto& [k, v] : {std::pair{"bits", "4"}, {"group_size", "128"}, {"symmetric", "false"}})
        if (!d.contains(k))
            s.notes.push_back(std::string("the default has no ") + k + ": the Olive pass supplies it; read as its default " + v);
    c.bits = opt<int>(d, "bits", label, "default").value_or(4);
    if (c.bits >= 16) bad(label, "default", "bits " + std::to_string(c.bits) + ": Olive's default must be 2, 4 or 8 bits");
    c.group_size = opt<int>(d, "group_size", label, "default").value_or(128);
    c.symmetric = opt<bool>(d, "symmetric", label, "default").value_or(false);
    s.default_format = int_format(c.bits, c.group_size, c.symmetric, label, "default");
    olive_flags(d, s, label, "default");
    if (j.contains("overrides")) olive_overrides(j["overrides"], c, s, label);
    return s;
}

/// An Olive-quantized model's quantization_config (OliveHfQuantizationConfig.to_dict): top-level bits, symmetric,
/// group_size are the default; overrides keep only the fields that differ from them.
OverrideSet olive_quant_config(const json& j, const std::string& label) {
    const std::string where = "quantization_config";
    check_keys(j, {"quant_method", "bits", "symmetric", "group_size", "lm_head", "embeds", "moe", "quantize_vision",
                   "modules_to_not_convert", "overrides", "tie_word_embeddings"},
               label, where, "OliveHfQuantizationConfig has");
    for (const char* k : {"bits", "symmetric", "group_size"})
        if (!j.contains(k)) bad(label, where, std::string("missing '") + k + "' (OliveHfQuantizationConfig requires it)");
    OverrideSet s;
    s.style = "olive";
    s.shape = "olive quantization_config";
    OliveCfg c;
    c.bits = *opt<int>(j, "bits", label, where);
    c.group_size = *opt<int>(j, "group_size", label, where);
    c.symmetric = *opt<bool>(j, "symmetric", label, where);
    s.default_format = int_format(c.bits, c.group_size, c.symmetric, label, where);
    olive_flags(j, s, label, where);
    s.lm_head = s.lm_head.value_or(false);  // OliveHfQuantizationConfig's defaults
    s.embeds = s.embeds.value_or(false);
    if (j.contains("overrides")) olive_overrides(j["overrides"], c, s, label);
    return s;
}

// ---- AutoRound -----------------------------------------------------------------------------------------------

/// The weight fields of auto_round.schemes.PRESET_SCHEMES (the activation fields only where they quantize).
const std::map<std::string, json>& autoround_presets() {
    static const std::map<std::string, json> p = [] {
        std::map<std::string, json> m;
        auto w = [](int bits, int gs) { return json{{"bits", bits}, {"group_size", gs}, {"sym", true}, {"data_type", "int"}, {"act_bits", 16}}; };
        m["W4A16"] = w(4, 128);
        m["W4A16_MIXED"] = w(4, 128);
        m["W8A16"] = w(8, 128);
        m["W2A16"] = w(2, 128);
        m["W3A16"] = w(3, 128);
        m["W5A16"] = w(5, 128);
        m["W6A16"] = w(6, 128);
        m["W2A16G64"] = w(2, 64);
        m["W2A16G32"] = w(2, 32);
        m["BF16"] = {{"bits", 16}, {"group_size", 128}, {"data_type", "fp"}, {"act_bits", 16}};
        for (const char* n : {"MXFP4", "MXFP4_RCEIL", "MXFP6", "MXFP8", "MXFP8_RCEIL"}) m[n] = {{"bits", 4}, {"group_size", 32}, {"data_type", "mx_fp"}};
        m["MXINT4"] = {{"bits", 4}, {"group_size", 32}, {"data_type", "mx_int"}};
        m["NVFP4"] = {{"bits", 4}, {"group_size", 16}, {"data_type", "nv_fp"}};
        m["NVFP4_E5M3"] = {{"bits", 4}, {"group_size", 16}, {"data_type", "nvfp4_v2"}};
        m["FPW8A16"] = {{"bits", 8}, {"group_size", 0}, {"data_type", "fp"}, {"act_bits", 16}};
        m["FP8_STATIC"] = {{"bits", 8}, {"group_size", -1}, {"data_type", "fp"}, {"act_bits", 8}};
        m["FP8_BLOCK"] = {{"bits", 8}, {"group_size", json::array({128, 128})}, {"data_type", "fp"}, {"act_bits", 8}};
        m["INT8"] = m["INT8_W8A8"] = {{"bits", 8}, {"group_size", -1}, {"sym", true}, {"data_type", "int"}, {"act_bits", 8}};
        m["INT4"] = {{"bits", 4}, {"group_size", -1}, {"sym", true}, {"data_type", "int"}, {"act_bits", 4}};
        // GGUF_SCHEME_FACTS behind GGUF_PRESET_ALIASES
        auto g = [](int bits, int gs, bool sym, const char* dt, json sb, json sgs) {
            return json{{"bits", bits}, {"group_size", gs}, {"sym", sym}, {"data_type", dt}, {"act_bits", 16}, {"super_bits", sb}, {"super_group_size", sgs}};
        };
        m["GGUF:Q4_0"] = g(4, 32, true, "int", nullptr, nullptr);
        m["GGUF:Q8_0"] = g(8, 32, true, "int", nullptr, nullptr);
        m["GGUF:Q5_0"] = g(5, 32, true, "int", nullptr, nullptr);
        m["GGUF:Q4_1"] = g(4, 32, false, "int_asym_float_zp", nullptr, nullptr);
        m["GGUF:Q5_1"] = g(5, 32, false, "int_asym_float_zp", nullptr, nullptr);
        for (const char* n : {"GGUF:Q2_K_S", "GGUF:Q2_K_MIXED"}) m[n] = g(2, 16, false, "int_asym_dq", 4, 16);
        for (const char* n : {"GGUF:Q3_K_S", "GGUF:Q3_K_M", "GGUF:Q3_K_L"}) m[n] = g(3, 16, true, "int_sym_dq", 6, 16);
        for (const char* n : {"GGUF:Q4_K_S", "GGUF:Q4_K_M"}) m[n] = g(4, 32, false, "int_asym_dq", 6, 8);
        for (const char* n : {"GGUF:Q5_K_S", "GGUF:Q5_K_M"}) m[n] = g(5, 32, false, "int_asym_dq", 6, 8);
        m["GGUF:Q6_K"] = g(6, 16, true, "int_sym_dq", 8, 16);
        return m;
    }();
    return p;
}

json autoround_preset(std::string name, const std::string& label, const std::string& where) {
    for (auto& ch : name) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    const auto& p = autoround_presets();
    if (auto it = p.find(name); it != p.end()) return it->second;
    bad(label, where, "unknown AutoRound scheme '" + name + "' (e.g. W4A16, W8A16, BF16, GGUF:Q4_0, GGUF:Q8_0)");
}

const std::set<std::string>& scheme_keys() {  // dataclass fields of QuantizationScheme
    static const std::set<std::string> k{"bits", "group_size", "sym", "data_type", "act_bits", "act_group_size", "act_sym",
                                         "act_data_type", "act_dynamic", "super_bits", "super_group_size", "rotation_config"};
    return k;
}

/// A resolved AutoRound scheme dict -> a MixQ format, or an error naming the field MixQ cannot store.
quant::QuantFormat autoround_format(const json& c, const std::string& label, const std::string& where) {
    if (auto ab = opt<int>(c, "act_bits", label, where); ab && *ab < 16)
        bad(label, where, "act_bits " + std::to_string(*ab) + ": MixQ plans weight-only formats (activations stay 16-bit)");
    for (const char* k : {"super_bits", "super_group_size"})
        if (c.contains(k) && !c[k].is_null())
            bad(label, where, std::string(k) + ": GGUF double-quantized (k-quant super-block) formats are not supported");
    if (c.contains("rotation_config") && !c["rotation_config"].is_null() && !c["rotation_config"].empty())
        bad(label, where, "rotation_config is not supported");
    int bits = opt<int>(c, "bits", label, where).value_or(16);
    std::string dt = opt<std::string>(c, "data_type", label, where).value_or("int");
    // _reconcile_bits_and_dtype / infer_bits_by_data_type: "int4" -> int, 4 bits
    if (dt.size() > 3 && dt.rfind("int", 0) == 0 && std::isdigit(static_cast<unsigned char>(dt[3]))) {
        bits = std::stoi(dt.substr(3));
        dt = "int";
    }
    const bool float_dt = dt == "float" || dt == "fp" || dt == "bf16" || dt == "fp16" || dt == "float16";
    if (bits >= 16 && (float_dt || dt == "int")) return quant::QuantFormat::float16();  // check_to_quantized: > 8 bits
    if (float_dt)
        bad(label, where, "data_type '" + dt + "' with bits " + std::to_string(bits) + " is not supported (float is 16-bit here)");
    if (dt != "int") bad(label, where, "data_type '" + dt + "' is not supported (int, or float for 16-bit)");
    if (c.contains("group_size") && !c["group_size"].is_number_integer())
        bad(label, where, "group_size " + c["group_size"].dump() + " is not supported (16, 32, 64, 128 or 256)");
    return int_format(bits, opt<int>(c, "group_size", label, where).value_or(128),
                      opt<bool>(c, "sym", label, where).value_or(true), label, where);
}

/// One layer_config value (resolver.normalize_item): a preset name, or a dict of scheme fields with an optional
/// "scheme" preset underneath; missing fields come from `dflt` (the run's scheme).
quant::QuantFormat autoround_entry(const json& v, const json& dflt, const std::string& label, const std::string& where) {
    json c;
    if (v.is_string()) {
        c = autoround_preset(v.get<std::string>(), label, where);
    } else if (v.is_object()) {
        json item = v;
        item.erase("in_blocks");  // LLM-Compressor bookkeeping, dropped by AutoRound
        if (item.contains("scheme")) {
            if (!item["scheme"].is_string()) bad(label, where, "'scheme' must be a preset name like \"W8A16\"");
            c = autoround_preset(item["scheme"].get<std::string>(), label, where);
            item.erase("scheme");
        }
        std::set<std::string> allowed = scheme_keys();
        allowed.insert({"fixed_by_user", "scale_dtype"});
        check_keys(item, allowed, label, where, "AutoRound layer_config allows");
        for (const auto& [k, x] : item.items()) c[k] = x;
    } else {
        bad(label, where, "expected a scheme name or an object like {\"bits\": 8, \"group_size\": 128, \"sym\": true}");
    }
    // data_type without bits: bits inferred from the data_type ("int8"); then the default fills the rest.
    for (const auto& [k, x] : dflt.items())
        if (!c.contains(k) || c[k].is_null()) c[k] = x;
    return autoround_format(c, label, where);
}

/// to_standard_regex: a key without regex tokens matches as a substring; one with them keeps its tokens, its
/// bare dots escaped. Either is then used with re.search.
std::string autoround_regex(const std::string& name) {
    static const char* meta[] = {".*", "^", "$", "|", "(", ")", "[", "]", "?", "+"};
    bool has_regex = false;
    for (const char* m : meta) has_regex = has_regex || name.find(m) != std::string::npos;
    std::string out;
    if (!has_regex) {
        for (char ch : name) {
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') out += '\\';
            out += ch;
        }
        return ".*" + out + ".*";
    }
    for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '.' && i + 1 < name.size() && name[i + 1] == '*') {
            out += ".*";
            ++i;
        } else if (name[i] == '.') {
            out += "\\.";
        } else {
            out += name[i];
        }
    }
    return out;
}

void autoround_entries(const json& lc, const json& dflt, OverrideSet& s, const std::string& label) {
    for (const auto& [k, v] : lc.items()) {
        OverrideEntry e;
        e.name = k;
        e.match = NameMatch::SearchRegex;  // normalize_overrides tries the exact name first, as AutoRound does
        e.pattern = autoround_regex(k);
        e.format = autoround_entry(v, dflt, label, "'" + k + "'");
        s.entries.push_back(e);
    }
}

OverrideSet autoround_layer_config(const json& j, const std::string& label) {
    OverrideSet s;
    s.style = "autoround";
    s.shape = "autoround layer_config";
    autoround_entries(j, autoround_presets().at("W4A16"), s, label);  // AutoRound's default scheme is "W4A16"
    return s;
}

/// An AutoRound model's quantization_config (export_to_autoround): top-level scheme fields are the default for the
/// layers in the decoder blocks; extra_config lists layers that differ (only the differing fields) and the
/// layers outside the blocks it quantizes (lm_head). Embeddings are never quantized outside GGUF.
OverrideSet autoround_quant_config(const json& j, const std::string& label) {
    const std::string where = "quantization_config";
    std::set<std::string> allowed = scheme_keys();
    allowed.insert({"quant_method", "packing_format", "extra_config", "block_name_to_quantize", "autoround_version",
                    "amp", "batch_size", "enable_minmax_tuning", "enable_norm_bias_tuning", "enable_quanted_input",
                    "gradient_accumulate_steps", "iters", "lr", "low_gpu_mem_usage", "minmax_lr", "nsamples",
                    "quant_block_list", "regex_config", "scale_dtype", "seqlen", "supported_types", "static_attention_dtype",
                    "static_kv_dtype", "static_attention_granularity", "static_kv_granularity", "to_quant_block_names",
                    "rotation_configs", "dataset", "provider"});
    check_keys(j, allowed, label, where, "AutoRound's quantization_config has");
    json dflt = autoround_presets().at("W4A16");
    for (const auto& k : scheme_keys())
        if (j.contains(k) && !j[k].is_null()) dflt[k] = j[k];
    OverrideSet s;
    s.style = "autoround";
    s.shape = "autoround quantization_config";
    s.default_format = autoround_format(dflt, label, where);
    s.lm_head = false;
    s.embeds = false;
    if (j.contains("extra_config") && !j["extra_config"].is_null()) {
        if (!j["extra_config"].is_object()) bad(label, "extra_config", "must be an object of layer -> scheme fields");
        autoround_entries(j["extra_config"], dflt, s, label);
    }
    return s;
}

// ---- shapes --------------------------------------------------------------------------------------------------

OverrideSet parse_any(const json& j, const std::string& label, int depth) {
    if (!j.is_object() || depth > 4)
        fail(label, "expected a JSON object (Olive mixed_precision_info or quantization_config, AutoRound layer_config "
                    "or quantization_config)");
    if (j.contains("quant_method")) {
        const auto m = opt<std::string>(j, "quant_method", label, "quantization_config").value_or("");
        if (m == "olive") return olive_quant_config(j, label);
        if (m == "auto-round" || m == "intel/auto-round") return autoround_quant_config(j, label);
        bad(label, "quant_method", "'" + m + "' is neither Olive's (\"olive\") nor AutoRound's (\"auto-round\")");
    }
    if (j.contains("quantization_config")) return parse_any(j["quantization_config"], label, depth + 1);  // config.json
    if (j.contains("input_model")) return parse_any(j["input_model"], label, depth + 1);  // Olive workflow config
    if (j.contains("model_attributes") || (j.contains("config") && j["config"].is_object() &&
                                           j["config"].contains("model_attributes"))) {  // Olive model config
        const json& attrs = j.contains("model_attributes") ? j["model_attributes"] : j["config"]["model_attributes"];
        if (!attrs.is_object() || !attrs.contains("mixed_precision_info"))
            bad(label, "model_attributes", "has no mixed_precision_info");
        return olive_mp_info(attrs["mixed_precision_info"], label);
    }
    if (j.contains("mixed_precision_info")) {
        check_keys(j, {"mixed_precision_info"}, label, "", "a mixed_precision_info wrapper has only");
        return olive_mp_info(j["mixed_precision_info"], label);
    }
    if (j.contains("default") || j.contains("overrides")) return olive_mp_info(j, label);
    if (j.contains("layer_config")) {
        check_keys(j, {"layer_config"}, label, "", "a layer_config wrapper has only");
        if (!j["layer_config"].is_object()) bad(label, "layer_config", "must be an object of layer -> scheme");
        return autoround_layer_config(j["layer_config"], label);
    }
    return autoround_layer_config(j, label);
}

}  // namespace

OverrideSet parse_overrides_json(const std::string& text, const std::string& label) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(label, std::string("not valid JSON: ") + e.what());
    }
    return parse_any(j, label, 0);
}

OverrideSet load_overrides(const std::filesystem::path& path) {
    return parse_overrides_json(mixq::read_input_file(path, mixq::kMaxJsonBytes), path.string());
}

}  // namespace mixq::plan
