// SPDX-License-Identifier: MIT
// Pattern: the {"String": ...} / {"Regex": ...} value that Split, Replace (normalizer and decoder) use; finds
// non-overlapping matches in valid UTF-8 and replaces them.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/regex.h"

namespace mixq::tok {

class Pattern {
public:
    static Pattern from_json(const nlohmann::json& j, const JsonWhere& w);
    static Pattern literal(std::string text);
    static Pattern regex(const std::string& pattern, const std::string& where);

    /// Appends the leftmost non-overlapping matches in `s` (valid UTF-8) to `out`.
    void find_all(std::string_view s, std::vector<Regex::Span>& out) const;
    /// Replaces every match by `content`.
    std::string replace_all(std::string_view s, const std::string& content) const;

private:
    std::string m_literal;
    std::shared_ptr<const Regex> m_regex;
};

}  // namespace mixq::tok
