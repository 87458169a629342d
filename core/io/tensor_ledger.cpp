// SPDX-License-Identifier: MIT
// TensorLedger: refusal of tensors the architecture does not consume, with the reason spelled out.
#include "core/io/tensor_ledger.h"

#include <cstdlib>

#include "core/common/error.h"

namespace mixq::io {

std::string TensorLedger::file_of(const std::string& name) const {
    return m_w.files()[static_cast<size_t>(m_w.info(name).file_index)].string();
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void TensorLedger::check_all_taken(const ModelConfig& c) const {
    for (const auto& t : m_w.tensors()) {
        const std::string& n = t.name;
        if (m_taken.count(n)) continue;
        const std::string file = file_of(n);
        const std::string prefix = "model.layers.";
        if (n.rfind(prefix, 0) == 0) {
            char* end = nullptr;
            const long layer = std::strtol(n.c_str() + prefix.size(), &end, 10);
            if (end != n.c_str() + prefix.size() && *end == '.' && layer >= c.num_layers)
                fail(file, "tensor '" + n + "' belongs to layer " + std::to_string(layer) + " but " + m_config +
                               " has num_hidden_layers " + std::to_string(c.num_layers));
            if (n.find(".self_attn.") != std::string::npos && ends_with(n, "_proj.bias") && !c.attention_bias)
                fail(file, "tensor '" + n + "' is an attention bias but " + m_config + " has attention_bias false (" +
                               c.sources.at("attention_bias") + ")");
            if (n.find(".mlp.") != std::string::npos && ends_with(n, ".bias"))
                fail(file, "tensor '" + n + "' is an MLP bias but " + m_config + " has mlp_bias false");
        }
        fail(file, "tensor '" + n + "' is not read by the " + c.model_type + " architecture (" + m_config +
                       ", " + std::to_string(c.num_layers) + " layers): unexpected name");
    }
}

}  // namespace mixq::io
