// SPDX-License-Identifier: MIT
// Literal or PCRE2 pattern matching for tokenizer components (see pattern.h).
#include "core/tokenizer/pattern.h"

namespace mixq::tok {

Pattern Pattern::from_json(const nlohmann::json& j, const JsonWhere& w) {
    if (!j.is_object()) w.fail("must be an object {\"String\": ...} or {\"Regex\": ...}");
    if (const auto* s = field(j, "String")) {
        if (!s->is_string()) w.at("String").fail("must be a string");
        return literal(s->get<std::string>());
    }
    if (const auto* r = field(j, "Regex")) {
        if (!r->is_string()) w.at("Regex").fail("must be a string");
        return regex(r->get<std::string>(), w.file + ": " + w.path);
    }
    w.fail("must hold \"String\" or \"Regex\"");
}

Pattern Pattern::literal(std::string text) {
    Pattern p;
    p.m_literal = std::move(text);
    return p;
}

Pattern Pattern::regex(const std::string& pattern, const std::string& where) {
    Pattern p;
    p.m_regex = std::make_shared<const Regex>(pattern, where);
    return p;
}

void Pattern::find_all(std::string_view s, std::vector<Regex::Span>& out) const {
    if (m_regex) {
        m_regex->find_all_validated(s, out);
        return;
    }
    if (m_literal.empty()) return;
    size_t pos = 0;
    while ((pos = s.find(m_literal, pos)) != std::string_view::npos) {
        out.emplace_back(pos, pos + m_literal.size());
        pos += m_literal.size();
    }
}

std::string Pattern::replace_all(std::string_view s, const std::string& content) const {
    std::vector<Regex::Span> spans;
    find_all(s, spans);
    if (spans.empty()) return std::string(s);
    std::string out;
    out.reserve(s.size() + spans.size() * content.size());
    size_t prev = 0;
    for (const auto& [a, b] : spans) {
        if (a == b) continue;
        out.append(s.substr(prev, a - prev));
        out += content;
        prev = b;
    }
    out.append(s.substr(prev));
    return out;
}

}  // namespace mixq::tok
