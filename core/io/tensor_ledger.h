// SPDX-License-Identifier: MIT
// TensorLedger: the bookkeeping behind "every tensor in the files is consumed by the architecture exactly once".
// Model::open takes each tensor it uses; whatever is left is refused in one line naming the shard, the tensor and
// the config value it contradicts (an extra layer, a bias the config turns off, an unexpected name).
#pragma once
#include <set>
#include <string>

#include "core/io/model_config.h"
#include "core/io/safetensors.h"

namespace mixq::io {

class TensorLedger {
public:
    TensorLedger(const TensorStore& w, std::string config_path) : m_w(w), m_config(std::move(config_path)) {}
    /// Marks a tensor as used (it must be present).
    void take(const std::string& name) { m_taken.insert(name); }
    /// The shard file that holds a tensor.
    std::string file_of(const std::string& name) const;
    /// Throws for the first tensor nobody took.
    void check_all_taken(const ModelConfig& c) const;

private:
    const TensorStore& m_w;
    std::string m_config;
    std::set<std::string> m_taken;
};

}  // namespace mixq::io
