// SPDX-License-Identifier: MIT
// The parts of config.json parsing beyond the plain sizes (internal to core/io): RoPE (rope_theta, rope_scaling,
// rope_parameters, partial_rotary_factor), sliding-window attention per layer, and the check that every key is
// read or known to be harmless.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/io/model_config.h"

namespace mixq::io {

/// Fills c.rope_theta and c.rope_scaling from either layout; refuses rope types and fields MixQ does not implement.
void parse_rope(const nlohmann::json& j, ModelConfig& c, const std::string& file);
/// Fills c.sliding_window and c.sliding_layers as transformers' model class for c.model_type does.
void parse_sliding_window(const nlohmann::json& j, ModelConfig& c, const std::string& file);
/// Refuses the first key that parse_model_config does not read and that could change the computation.
void check_config_keys(const nlohmann::json& j, const ModelConfig& c, const std::string& file);

}  // namespace mixq::io
