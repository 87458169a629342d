// SPDX-License-Identifier: MIT
// Typed, range-checked readers for values in the JSON files MixQ loads (config.json, safetensors headers).
// Every integer is range-checked before conversion, every number must be finite, a wrong type is an error:
// nothing falls back to a default. Errors are one line "<file>: key 'K' ... got V" naming the key and the value.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace mixq::io {

/// The value as short JSON text for messages (at most ~60 characters).
std::string json_brief(const nlohmann::json& v);
/// true when `obj` has `key` with a non-null value.
bool json_has(const nlohmann::json& obj, const char* key);
/// An integer in [lo, hi]; refuses floats (8.9e97), strings, booleans and out-of-range integers.
int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& file, const std::string& key);
/// A finite number (integer or float).
double json_number(const nlohmann::json& v, const std::string& file, const std::string& key);
/// A JSON boolean (the string "false" is refused).
bool json_bool(const nlohmann::json& v, const std::string& file, const std::string& key);
/// A JSON string.
std::string json_string(const nlohmann::json& v, const std::string& file, const std::string& key);

}  // namespace mixq::io
