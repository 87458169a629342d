// SPDX-License-Identifier: MIT
// UnitNames: resolves what a user or an override file calls a weight (unit name "layers.3.qkv", tensor name
// "model.layers.3.self_attn.q_proj.weight", module name without ".weight", "lm_head" of a tied model) to the
// planning unit that holds it.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "core/score/score_table.h"

namespace mixq::plan {

class UnitNames {
public:
    UnitNames() = default;
    explicit UnitNames(const score::ScoreTable& table);

    /// Index of the unit (in table order) that `name` denotes, or nullopt.
    std::optional<size_t> find(const std::string& name) const;
    /// Like find(), but throws mixq::Error "<what> '<name>': no unit or tensor of that name (units are e.g. ...)".
    size_t resolve(const std::string& name, const std::string& what) const;
    /// The canonical tensor name for a tensor/module alias ("model.layers.0.mlp.up_proj" ->
    /// "model.layers.0.mlp.up_proj.weight"; "lm_head" of a tied model -> "lm_head.weight"), or "" when `name` is a
    /// unit name or unknown.
    std::string canonical_tensor(const std::string& name) const;
    /// A few unit names, for error messages.
    const std::string& examples() const { return m_examples; }

private:
    std::map<std::string, size_t> m_units;
    std::map<std::string, std::pair<std::string, size_t>> m_tensors;  ///< alias -> (canonical tensor, unit)
    std::string m_examples;
};

}  // namespace mixq::plan
