// SPDX-License-Identifier: MIT
// AddedVocabulary: the "added_tokens" of tokenizer.json. Finds them in the input before the rest of the
// pipeline runs (leftmost, then longest match; lstrip/rstrip/single_word/normalized as Hugging Face does) and
// normalizes the text between them.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/tokenizer/normalizer.h"

namespace mixq::tok {

struct AddedToken {
    int id = -1;
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

/// A piece of input: an added token (id >= 0) or normalized text for the pre-tokenizer and model (id < 0).
struct Segment {
    std::string text;
    int id = -1;
    bool at_origin = false;  ///< starts at offset 0 of the input
};

class AddedVocabulary {
public:
    /// `normalizer` (may be null) normalizes the content of tokens flagged normalized, which are then matched
    /// in normalized text; the others are matched in the raw text.
    void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

    /// Splits valid UTF-8 `text` into added tokens and normalized text (empty text pieces dropped).
    std::vector<Segment> extract_and_normalize(const std::string& text, const Normalizer* normalizer) const;

    const AddedToken* by_id(int id) const;
    std::optional<int> id_of(std::string_view content) const;
    bool is_special(std::string_view content) const;
    const std::vector<AddedToken>& tokens() const { return m_tokens; }
    int max_id() const;

private:
    struct Trie {
        struct Node {
            std::vector<std::pair<unsigned char, int>> kids;
            int token = -1;  // index into m_tokens
        };
        std::vector<Node> nodes{Node{}};
        bool first_byte[256] = {};
        void add(std::string_view pattern, int token);
        /// Longest pattern starting at s[pos]: {token index, length} or {-1, 0}.
        std::pair<int, size_t> longest_at(std::string_view s, size_t pos) const;
        bool empty() const { return nodes.size() == 1; }
    };
    struct Match {
        int id;  // -1 for plain text
        size_t start, end;
    };
    std::vector<Match> find_matches(std::string_view s, const Trie& trie) const;

    std::vector<AddedToken> m_tokens;
    std::unordered_map<int, size_t> m_by_id;
    std::unordered_map<std::string, int> m_by_content;
    std::unordered_set<std::string> m_special;
    Trie m_raw;
    Trie m_normalized;
};

}  // namespace mixq::tok
