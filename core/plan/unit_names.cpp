// SPDX-License-Identifier: MIT
// Name resolution for pins and override files.
#include "core/plan/unit_names.h"

#include "core/common/error.h"

namespace mixq::plan {

namespace {
std::string strip_weight(const std::string& s) {
    const std::string suf = ".weight";
    if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0)
        return s.substr(0, s.size() - suf.size());
    return s;
}
}  // namespace

UnitNames::UnitNames(const score::ScoreTable& table) {
    for (size_t i = 0; i < table.units.size(); ++i) {
        const auto& u = table.units[i];
        m_units[u.name] = i;
        for (const auto& m : u.members) {
            m_tensors[m] = {m, i};
            m_tensors[strip_weight(m)] = {m, i};
        }
        if (u.kind == io::UnitKind::TiedEmbedding) {
            // The tied table is also the lm_head: Olive / AutoRound files name it "lm_head".
            m_tensors["lm_head.weight"] = {"lm_head.weight", i};
            m_tensors["lm_head"] = {"lm_head.weight", i};
        }
    }
    // Examples: the first unit of each kind, in table order.
    std::map<io::UnitKind, bool> seen;
    for (const auto& u : table.units) {
        if (seen[u.kind]) continue;
        seen[u.kind] = true;
        m_examples += (m_examples.empty() ? "" : ", ") + u.name;
    }
}

std::optional<size_t> UnitNames::find(const std::string& name) const {
    if (auto it = m_units.find(name); it != m_units.end()) return it->second;
    if (auto it = m_tensors.find(name); it != m_tensors.end()) return it->second.second;
    return std::nullopt;
}

size_t UnitNames::resolve(const std::string& name, const std::string& what) const {
    if (auto i = find(name)) return *i;
    fail(what + " '" + name + "'", "no unit or tensor of that name in this model (units are e.g. " + m_examples + ")");
}

std::string UnitNames::canonical_tensor(const std::string& name) const {
    if (auto it = m_tensors.find(name); it != m_tensors.end()) return it->second.first;
    return {};
}

}  // namespace mixq::plan
