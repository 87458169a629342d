// SPDX-License-Identifier: MIT
// Added-token matching and the split/normalize step that precedes pre-tokenization (see added_vocab.h).
#include "core/tokenizer/added_vocab.h"

#include <unicode/uchar.h>

#include <algorithm>

#include "core/tokenizer/utf8.h"

namespace mixq::tok {
namespace {

/// Unicode \w as Rust's regex crate defines it: Alphabetic, marks, decimal digits, connector punctuation and
/// Join_Control.
bool is_word_char(char32_t c) {
    const auto cp = static_cast<UChar32>(c);
    if (u_hasBinaryProperty(cp, UCHAR_ALPHABETIC) || u_hasBinaryProperty(cp, UCHAR_JOIN_CONTROL)) return true;
    switch (u_charType(cp)) {
        case U_NON_SPACING_MARK:
        case U_ENCLOSING_MARK:
        case U_COMBINING_SPACING_MARK:
        case U_DECIMAL_DIGIT_NUMBER:
        case U_CONNECTOR_PUNCTUATION:
            return true;
        default:
            return false;
    }
}

bool ends_with_word(std::string_view s) {
    return !s.empty() && is_word_char(utf8::decode_at(s, utf8::prev_char_start(s, s.size())));
}

bool starts_with_word(std::string_view s) { return !s.empty() && is_word_char(utf8::decode_at(s, 0)); }

/// Start of the whitespace run that ends s.
size_t space_leftmost_at_end(std::string_view s) {
    size_t end = s.size();
    while (end > 0) {
        const size_t st = utf8::prev_char_start(s, end);
        if (!utf8::is_white_space(utf8::decode_at(s, st))) break;
        end = st;
    }
    return end;
}

/// Length of the whitespace run that starts s.
size_t space_rightmost_at_start(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && utf8::is_white_space(utf8::decode_at(s, i)))
        i += utf8::char_length(static_cast<unsigned char>(s[i]));
    return i;
}

}  // namespace

void AddedVocabulary::Trie::add(std::string_view pattern, int token) {
    if (pattern.empty()) return;
    int node = 0;
    for (unsigned char c : pattern) {
        int next = -1;
        for (const auto& [byte, child] : nodes[node].kids)
            if (byte == c) next = child;
        if (next < 0) {
            next = static_cast<int>(nodes.size());
            nodes[node].kids.emplace_back(c, next);
            nodes.emplace_back();
        }
        node = next;
    }
    if (nodes[node].token < 0) nodes[node].token = token;  // the first of identical patterns wins
    first_byte[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<int, size_t> AddedVocabulary::Trie::longest_at(std::string_view s, size_t pos) const {
    int node = 0;
    std::pair<int, size_t> best{-1, 0};
    for (size_t i = pos; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        int next = -1;
        for (const auto& [byte, child] : nodes[node].kids)
            if (byte == c) {
                next = child;
                break;
            }
        if (next < 0) break;
        node = next;
        if (nodes[node].token >= 0) best = {nodes[node].token, i + 1 - pos};
    }
    return best;
}

void AddedVocabulary::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
    m_tokens = std::move(tokens);
    m_by_id.clear();
    m_by_content.clear();
    m_special.clear();
    m_raw = Trie{};
    m_normalized = Trie{};
    for (size_t i = 0; i < m_tokens.size(); ++i) {
        const auto& t = m_tokens[i];
        m_by_id[t.id] = i;
        m_by_content[t.content] = t.id;
        if (t.special) m_special.insert(t.content);
    }
    // Hugging Face matches special tokens first, then the others, each in file order.
    for (int pass = 0; pass < 2; ++pass)
        for (size_t i = 0; i < m_tokens.size(); ++i) {
            const auto& t = m_tokens[i];
            if (t.special != (pass == 0)) continue;
            if (!t.normalized) {
                m_raw.add(t.content, static_cast<int>(i));
            } else {
                std::string content = t.content;
                if (normalizer) normalizer->normalize(content);
                m_normalized.add(content, static_cast<int>(i));
            }
        }
}

std::vector<AddedVocabulary::Match> AddedVocabulary::find_matches(std::string_view s, const Trie& trie) const {
    std::vector<Match> out;
    if (s.empty()) {
        out.push_back({-1, 0, 0});
        return out;
    }
    size_t start_offset = 0;
    size_t pos = 0;
    while (pos < s.size()) {
        if (!trie.first_byte[static_cast<unsigned char>(s[pos])]) {
            ++pos;
            continue;
        }
        const auto [index, len] = trie.longest_at(s, pos);
        if (index < 0) {
            ++pos;
            continue;
        }
        size_t start = pos, stop = pos + len;
        pos = stop;  // matching resumes after the match, whatever happens to it below
        const AddedToken& t = m_tokens[static_cast<size_t>(index)];
        if (t.single_word) {
            const bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
            const bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
            if (!start_space || !stop_space) continue;
        }
        if (t.lstrip) start = std::max(space_leftmost_at_end(s.substr(0, start)), start_offset);
        if (t.rstrip) stop += space_rightmost_at_start(s.substr(stop));
        if (start < start_offset) continue;  // inside whitespace an earlier rstrip already took
        if (start_offset < start) out.push_back({-1, start_offset, start});
        out.push_back({t.id, start, stop});
        start_offset = stop;
    }
    if (start_offset != s.size()) out.push_back({-1, start_offset, s.size()});
    return out;
}

std::vector<Segment> AddedVocabulary::extract_and_normalize(const std::string& text,
                                                            const Normalizer* normalizer) const {
    std::vector<Segment> out;
    for (const auto& m : find_matches(text, m_raw)) {
        if (m.id >= 0) {
            out.push_back({text.substr(m.start, m.end - m.start), m.id, m.start == 0});
            continue;
        }
        std::string piece = text.substr(m.start, m.end - m.start);
        if (piece.empty()) continue;
        if (normalizer) normalizer->normalize(piece);
        if (piece.empty()) continue;
        if (m_normalized.empty()) {
            out.push_back({std::move(piece), -1, m.start == 0});
            continue;
        }
        for (const auto& n : find_matches(piece, m_normalized)) {
            if (n.end == n.start) continue;
            out.push_back({piece.substr(n.start, n.end - n.start), n.id, m.start == 0 && n.start == 0});
        }
    }
    return out;
}

const AddedToken* AddedVocabulary::by_id(int id) const {
    auto it = m_by_id.find(id);
    return it == m_by_id.end() ? nullptr : &m_tokens[it->second];
}

std::optional<int> AddedVocabulary::id_of(std::string_view content) const {
    auto it = m_by_content.find(std::string(content));
    if (it == m_by_content.end()) return std::nullopt;
    return it->second;
}

bool AddedVocabulary::is_special(std::string_view content) const { return m_special.count(std::string(content)) != 0; }

int AddedVocabulary::max_id() const {
    int m = -1;
    for (const auto& t : m_tokens) m = std::max(m, t.id);
    return m;
}

}  // namespace mixq::tok
