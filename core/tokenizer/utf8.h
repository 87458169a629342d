// SPDX-License-Identifier: MIT
// UTF-8 helpers for the tokenizer: validation, repair of invalid bytes (each maximal invalid subpart becomes
// U+FFFD), code point decoding/encoding and the Unicode White_Space test.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mixq::tok::utf8 {

/// Scans the sequence starting at s[pos]. Returns its length and sets `valid`; when invalid, the length is
/// that of the maximal subpart (>= 1) that one U+FFFD replaces (Unicode "substitution of maximal subparts").
size_t scan(std::string_view s, size_t pos, bool& valid);

bool is_valid(std::string_view s);

/// Returns s with every invalid sequence replaced by U+FFFD (s itself when already valid).
std::string sanitize(std::string_view s);

/// Byte length of the character whose lead byte is b (valid text only).
inline size_t char_length(unsigned char b) {
    return b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : 4;
}

/// Decodes the character at s[pos] (valid text only).
char32_t decode_at(std::string_view s, size_t pos);

/// Start of the character that ends at `end` (valid text only, end > 0).
size_t prev_char_start(std::string_view s, size_t end);

void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

/// Unicode White_Space property (what Rust's char::is_whitespace and regex \s test).
bool is_white_space(char32_t c);

}  // namespace mixq::tok::utf8
