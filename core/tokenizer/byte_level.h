// SPDX-License-Identifier: MIT
// The GPT-2 byte-level alphabet: every byte maps to one printable code point (bytes_to_unicode), so any byte
// string becomes a string of vocabulary characters, and back.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mixq::tok::byte_level {

/// UTF-8 of the code point that stands for byte b.
const std::string& char_for_byte(unsigned char b);
/// Appends the byte-level form of every byte of `bytes`.
void map_bytes(std::string_view bytes, std::string& out);
/// The byte that code point cp stands for, or -1 when cp is not in the alphabet.
int byte_for_char(char32_t cp);
/// Maps each token's characters back to bytes (a token with a character outside the alphabet contributes its
/// raw UTF-8 bytes, as Hugging Face's ByteLevel decoder does) and concatenates them.
std::string unmap_tokens(const std::vector<std::string>& tokens);

}  // namespace mixq::tok::byte_level
