// SPDX-License-Identifier: MIT
// PCRE2 wrapper (see regex.h). Each thread keeps its own match data, match context and JIT stack.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/tokenizer/regex.h"

#include <pcre2.h>

#include "core/common/error.h"
#include "core/tokenizer/utf8.h"

namespace mixq::tok {

struct Regex::Code {
    pcre2_code* code = nullptr;
    ~Code() {
        if (code) pcre2_code_free(code);
    }
};

namespace {

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return "PCRE2 error " + std::to_string(code);
    return reinterpret_cast<const char*>(buf);
}

/// The pattern as it may appear inside a one-line message: control characters escaped, long ones cut.
std::string printable(const std::string& p) {
    std::string out;
    for (unsigned char c : p) {
        if (c < 0x20 || c == 0x7F) {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
        if (out.size() > 120) return out + "...";
    }
    return out;
}

struct MatchState {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchState() {
        data = pcre2_match_data_create(1, nullptr);
        context = pcre2_match_context_create(nullptr);
        stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchState() {
        if (data) pcre2_match_data_free(data);
        if (context) pcre2_match_context_free(context);
        if (stack) pcre2_jit_stack_free(stack);
    }
};

MatchState& match_state() {
    thread_local MatchState state;
    if (!state.data) throw Error("tokenizer regex: out of memory for PCRE2 match data");
    return state;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where)
    : m_pattern(pattern), m_where(where), m_code(new Code) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    m_code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (!m_code->code)
        fail(where, "bad regex '" + printable(pattern) + "': " + pcre2_message(err) + " at offset " +
                        std::to_string(offset));
    m_jit = pcre2_jit_compile(m_code->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

void Regex::find_all(std::string_view subject, std::vector<Span>& out) const {
    if (!utf8::is_valid(subject)) fail(m_where, "regex subject is not valid UTF-8");
    find_all_validated(subject, out);
}

void Regex::find_all_validated(std::string_view subject, std::vector<Span>& out) const {
    MatchState& st = match_state();
    const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const size_t n = subject.size();
    size_t pos = 0;
    while (pos <= n) {
        const int rc = pcre2_match(m_code->code, subj, n, pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
            fail(m_where, "regex '" + printable(m_pattern) + "' failed on the input (" + pcre2_message(rc) +
                              "; a pattern that backtracks catastrophically)");
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
        const size_t start = ov[0], end = ov[1];
        if (end < start || end > n) break;  // \K tricks; nothing sensible to report
        out.emplace_back(start, end);
        if (end == start) {
            if (end >= n) break;
            pos = end + utf8::char_length(static_cast<unsigned char>(subject[end]));
        } else {
            pos = end;
        }
    }
}

}  // namespace mixq::tok
