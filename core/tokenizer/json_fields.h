// SPDX-License-Identifier: MIT
// Typed field access for tokenizer.json sections. Every failure throws one mixq::Error line
// "<file>: <json path>: <problem>", e.g. "tokenizer.json: pre_tokenizer.pretokenizers[0].behavior: ...".
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/common/error.h"

namespace mixq::tok {

/// Where a JSON value sits: the file label and the dotted path inside it.
struct JsonWhere {
    std::string file;
    std::string path;
    JsonWhere at(const std::string& key) const { return {file, path.empty() ? key : path + "." + key}; }
    JsonWhere at(size_t index) const { return {file, path + "[" + std::to_string(index) + "]"}; }
    [[noreturn]] void fail(const std::string& what) const { mixq::fail(file, path.empty() ? what : path + ": " + what); }
};

/// The field, or nullptr when absent or null.
inline const nlohmann::json* field(const nlohmann::json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

inline std::string string_field(const nlohmann::json& obj, const char* key, const JsonWhere& w) {
    const auto* v = field(obj, key);
    if (!v) w.at(key).fail("missing");
    if (!v->is_string()) w.at(key).fail("must be a string");
    return v->get<std::string>();
}

inline std::string string_or(const nlohmann::json& obj, const char* key, const std::string& dflt, const JsonWhere& w) {
    const auto* v = field(obj, key);
    if (!v) return dflt;
    if (!v->is_string()) w.at(key).fail("must be a string");
    return v->get<std::string>();
}

inline bool bool_or(const nlohmann::json& obj, const char* key, bool dflt, const JsonWhere& w) {
    const auto* v = field(obj, key);
    if (!v) return dflt;
    if (!v->is_boolean()) w.at(key).fail("must be true or false");
    return v->get<bool>();
}

inline long long int_or(const nlohmann::json& obj, const char* key, long long dflt, const JsonWhere& w) {
    const auto* v = field(obj, key);
    if (!v) return dflt;
    if (!v->is_number_integer()) w.at(key).fail("must be an integer");
    return v->get<long long>();
}

/// The "type" of a component object.
inline std::string type_field(const nlohmann::json& obj, const JsonWhere& w) {
    if (!obj.is_object()) w.fail("must be an object");
    return string_field(obj, "type", w);
}

}  // namespace mixq::tok
