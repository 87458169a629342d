// SPDX-License-Identifier: MIT
// Regex: a compiled PCRE2 pattern (UTF + UCP, JIT when available) that lists the non-overlapping matches in a
// UTF-8 subject. Shared read-only between threads; per-thread match state lives in the .cpp.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mixq::tok {

class Regex {
public:
    using Span = std::pair<size_t, size_t>;  ///< [start, end) byte offsets

    /// Compiles `pattern`; throws mixq::Error "<where>: bad regex ...: <reason> at offset N".
    Regex(const std::string& pattern, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    /// Appends the leftmost non-overlapping matches in `subject` to `out`. The subject is checked for valid
    /// UTF-8 first (throws mixq::Error when it is not), after which PCRE2 runs with PCRE2_NO_UTF_CHECK.
    void find_all(std::string_view subject, std::vector<Span>& out) const;
    /// Same, for a subject the caller has already validated (no UTF-8 check at all).
    void find_all_validated(std::string_view subject, std::vector<Span>& out) const;

    const std::string& pattern() const { return m_pattern; }
    bool jit() const { return m_jit; }

private:
    struct Code;
    std::string m_pattern;
    std::string m_where;  ///< the file (and JSON path) the pattern came from, for match-time errors
    std::unique_ptr<Code> m_code;
    bool m_jit = false;
};

}  // namespace mixq::tok
