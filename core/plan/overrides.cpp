// SPDX-License-Identifier: MIT
// Olive / AutoRound override files: matching entries to the model's modules by each tool's rule, and QKV /
// gate_up / tied-table normalization into one pin per unit.
#include "core/plan/overrides.h"

#include <memory>

#include "core/common/error.h"
#include "core/plan/unit_names.h"
#include "core/tokenizer/regex.h"

namespace mixq::plan {

std::string module_of(const std::string& tensor) {
    const std::string suf = ".weight";
    if (tensor.size() > suf.size() && tensor.compare(tensor.size() - suf.size(), suf.size(), suf) == 0)
        return tensor.substr(0, tensor.size() - suf.size());
    return tensor;
}

namespace {


enum class ModKind { Linear, LmHead, Embedding };

struct Module {
    std::string name;    ///< "model.layers.0.self_attn.q_proj", "lm_head", "model.embed_tokens"
    std::string tensor;  ///< canonical tensor name
    size_t unit = 0;
    ModKind kind = ModKind::Linear;
};

std::vector<Module> modules_of(const score::ScoreTable& table) {
    std::vector<Module> out;
    for (size_t i = 0; i < table.units.size(); ++i) {
        const auto& u = table.units[i];
        const ModKind k = u.kind == io::UnitKind::LmHead ? ModKind::LmHead
                          : (u.kind == io::UnitKind::Embedding || u.kind == io::UnitKind::TiedEmbedding) ? ModKind::Embedding
                                                                                                         : ModKind::Linear;
        for (const auto& m : u.members) out.push_back({module_of(m), m, i, k});
        if (u.kind == io::UnitKind::TiedEmbedding) out.push_back({"lm_head", "lm_head.weight", i, ModKind::LmHead});
    }
    return out;
}

bool matches(const tok::Regex& re, const std::string& s) {
    std::vector<tok::Regex::Span> spans;
    re.find_all(s, spans);
    return !spans.empty();
}

/// Olive modules_to_not_convert (patterns.match_skip): plain = substring, "re:" = fullmatch.
bool skipped(const std::vector<std::string>& pats, const std::string& name, const std::string& label) {
    for (const auto& p : pats) {
        if (p.rfind("re:", 0) == 0) {
            if (matches(tok::Regex("\\A(?:" + p.substr(3) + ")\\z", label + ": modules_to_not_convert '" + p + "'"), name))
                return true;
        } else if (!p.empty() && name.find(p) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool more_precise(const quant::QuantFormat& a, const quant::QuantFormat& b) {
    if (a.bits != b.bits) return a.bits > b.bits;
    if (a.is_float()) return false;
    return a.block_size < b.block_size;
}

NormalizedOverrides normalize_overrides(const OverrideSet& set, const score::ScoreTable& table, const std::string& label) {
    const UnitNames names(table);
    const auto mods = modules_of(table);
    NormalizedOverrides out;
    out.notes = set.notes;

    // Per module (index into mods): the entry that decides it.
    std::vector<const OverrideEntry*> chosen(mods.size(), nullptr);
    std::vector<bool> by_name(mods.size(), false);  // chosen by a literal name / MixQ alias, not a regex
    std::vector<bool> unit_named(table.units.size(), false);  // a MixQ unit name ("layers.3.qkv") took the unit
    auto mod_index = [&](const std::string& tensor) -> int {
        for (size_t i = 0; i < mods.size(); ++i)
            if (mods[i].tensor == tensor) return int(i);
        return -1;
    };
    for (const auto& e : set.entries) {
        // A module name, tensor name or MixQ unit name is literal for both tools (AutoRound keeps exact layer names).
        const std::string t = names.canonical_tensor(e.name);
        const auto unit = names.find(e.name);
        const bool literal = e.match == NameMatch::Literal || unit.has_value();
        if (literal) {
            if (!unit) fail(label, "'" + e.name + "' is not a weight of this model (units are e.g. " + names.examples() + ")");
            std::vector<int> targets;
            if (!t.empty()) {
                targets.push_back(mod_index(t));
            } else {
                for (size_t i = 0; i < mods.size(); ++i)
                    if (mods[i].unit == *unit) targets.push_back(int(i));
                unit_named[*unit] = true;
            }
            for (int i : targets) {
                // Olive: the first matching key wins; AutoRound: an exact name keeps its entry unless a regex
                // later assigns the layer (resolver._traverse_and_expand_layer_config).
                if (set.style == "olive" && chosen[i]) continue;
                if (set.style == "autoround" && chosen[i] && !by_name[i]) continue;
                chosen[i] = &e;
                by_name[i] = true;
                if (set.style == "autoround" && mods[i].kind != ModKind::Linear) {
                    const bool tied = table.units[mods[i].unit].kind == io::UnitKind::TiedEmbedding;
                    if (mods[i].kind == ModKind::Embedding)
                        out.notes.push_back("'" + e.name + "': AutoRound quantizes embeddings only for GGUF formats; "
                                            "imported as written");
                    else if (tied)
                        out.notes.push_back("'" + e.name + "': AutoRound drops a tied lm_head outside GGUF formats; "
                                            "imported as written");
                }
            }
            continue;
        }
        const bool full = e.match == NameMatch::FullRegex;
        const tok::Regex re(full ? "\\A(?:" + e.pattern + ")\\z" : e.pattern, label + ": '" + e.name + "'");
        bool any = false;
        for (size_t i = 0; i < mods.size(); ++i) {
            // AutoRound's regexes reach only its supported (linear) layers outside GGUF.
            if (!full && mods[i].kind == ModKind::Embedding) continue;
            if (!matches(re, mods[i].name)) continue;
            any = true;
            if (full && chosen[i]) continue;  // Olive: first match in file order
            chosen[i] = &e;                   // AutoRound: a later regex overwrites
            by_name[i] = false;
        }
        if (!any)
            fail(label, "'" + e.name + "' matches no weight of this model (" + (full ? "fullmatch" : "search") + " of '" +
                            e.pattern + "'; units are e.g. " + names.examples() + ")");
    }

    // Effective format per module: its entry, else 16-bit where the file's flags say so, else the default.
    std::vector<std::optional<quant::QuantFormat>> eff(mods.size());
    std::vector<bool> touched(table.units.size(), false);
    bool default_reaches_head = false;
    for (size_t i = 0; i < mods.size(); ++i) {
        const auto& m = mods[i];
        if (chosen[i]) {
            eff[i] = chosen[i]->format;
            touched[m.unit] = true;
        } else if (skipped(set.not_convert, m.name, label) ||
                   (m.kind == ModKind::LmHead && set.lm_head == false) ||
                   (m.kind == ModKind::Embedding && set.embeds == false)) {
            eff[i] = quant::QuantFormat::float16();
            touched[m.unit] = true;
        } else {
            eff[i] = set.default_format;
            if (m.kind != ModKind::Linear && set.default_format &&
                !(m.kind == ModKind::LmHead ? set.lm_head : set.embeds).has_value())
                default_reaches_head = true;
        }
        if (unit_named[m.unit]) touched[m.unit] = true;
    }
    if (default_reaches_head && set.style == "olive")
        out.notes.push_back("the file does not set lm_head/embeds: Olive's pass keeps lm_head and embeddings 16-bit "
                            "unless its own lm_head/embeds are true; imported with the default " +
                            set.default_format->name());

    for (size_t u = 0; u < table.units.size(); ++u) {
        if (!touched[u]) continue;
        // Most precise among the members' formats; the first one wins a tie.
        std::optional<quant::QuantFormat> best;
        for (size_t i = 0; i < mods.size(); ++i)
            if (mods[i].unit == u && eff[i] && (!best || more_precise(*eff[i], *best))) best = eff[i];
        for (size_t i = 0; i < mods.size(); ++i)
            if (mods[i].unit == u && (!eff[i] || *eff[i] != *best)) ++out.normalized;
        for (const auto& m : table.units[u].members) out.tensors[m] = *best;
        out.units.push_back({table.units[u].name, *best});
    }
    return out;
}

}  // namespace mixq::plan
