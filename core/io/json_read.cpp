// SPDX-License-Identifier: MIT
// Typed, range-checked JSON value readers (see json_read.h).
#include "core/io/json_read.h"

#include <cmath>

#include "core/common/error.h"

namespace mixq::io {

std::string json_brief(const nlohmann::json& v) {
    std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

bool json_has(const nlohmann::json& obj, const char* key) {
    return obj.is_object() && obj.contains(key) && !obj[key].is_null();
}

int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& file, const std::string& key) {
    const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (!v.is_number_integer()) fail(file, "key '" + key + "' must be an integer in " + range + ", got " + json_brief(v));
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (hi < 0 || u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo)))
            fail(file, "key '" + key + "' = " + std::to_string(u) + " is outside " + range);
        return static_cast<int64_t>(u);
    }
    const int64_t s = v.get<int64_t>();
    if (s < lo || s > hi) fail(file, "key '" + key + "' = " + std::to_string(s) + " is outside " + range);
    return s;
}

double json_number(const nlohmann::json& v, const std::string& file, const std::string& key) {
    if (!v.is_number()) fail(file, "key '" + key + "' must be a number, got " + json_brief(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(file, "key '" + key + "' must be finite, got " + json_brief(v));
    return d;
}

bool json_bool(const nlohmann::json& v, const std::string& file, const std::string& key) {
    if (!v.is_boolean()) fail(file, "key '" + key + "' must be true or false, got " + json_brief(v));
    return v.get<bool>();
}

std::string json_string(const nlohmann::json& v, const std::string& file, const std::string& key) {
    if (!v.is_string()) fail(file, "key '" + key + "' must be a string, got " + json_brief(v));
    return v.get<std::string>();
}

}  // namespace mixq::io
