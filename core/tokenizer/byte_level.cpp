// SPDX-License-Identifier: MIT
// The GPT-2 bytes_to_unicode table and its inverse (see byte_level.h).
#include "core/tokenizer/byte_level.h"

#include <array>

#include "core/tokenizer/utf8.h"

namespace mixq::tok::byte_level {
namespace {

struct Tables {
    std::array<std::string, 256> to_char;
    std::array<int, 0x180> to_byte{};  // the alphabet lies below U+0180
    Tables() {
        to_byte.fill(-1);
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
            to_char[b] = utf8::encode(cp);
            to_byte[cp] = b;
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& char_for_byte(unsigned char b) { return tables().to_char[b]; }

void map_bytes(std::string_view bytes, std::string& out) {
    const Tables& t = tables();
    for (unsigned char b : bytes) out += t.to_char[b];
}

int byte_for_char(char32_t cp) {
    return cp < tables().to_byte.size() ? tables().to_byte[cp] : -1;
}

std::string unmap_tokens(const std::vector<std::string>& tokens) {
    std::string out;
    std::string tmp;
    for (const auto& tok : tokens) {
        if (!utf8::is_valid(tok)) {
            out += tok;
            continue;
        }
        tmp.clear();
        bool ok = true;
        for (size_t i = 0; i < tok.size();) {
            const int b = byte_for_char(utf8::decode_at(tok, i));
            if (b < 0) {
                ok = false;
                break;
            }
            tmp.push_back(static_cast<char>(b));
            i += utf8::char_length(static_cast<unsigned char>(tok[i]));
        }
        out += ok ? tmp : tok;
    }
    return out;
}

}  // namespace mixq::tok::byte_level
