// SPDX-License-Identifier: MIT
// BpeModel: the "model" section of a tokenizer.json with type BPE. Vocabulary, ranked merges, unk_token (fused
// or not), byte_fallback to <0xNN>, continuing_subword_prefix / end_of_word_suffix and ignore_merges.
// Words are merged with a priority queue over a linked list of symbols and cached (thread-safe).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tokenizer/flat_tables.h"
#include "core/tokenizer/json_fields.h"

namespace mixq::tok {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct BpeOptions {
    std::optional<std::string> unk_token;
    std::optional<std::string> continuing_subword_prefix;
    std::optional<std::string> end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
};

class BpeModel {
public:
    /// From the "model" object of tokenizer.json (type BPE); throws mixq::Error on malformed content. When
    /// `vocab` / `merges` are given (already streamed out of the file, see json_loader.h) they are used, and
    /// consumed, instead of the model's "vocab" / "merges" fields.
    static std::unique_ptr<BpeModel> from_json(const nlohmann::json& model, const JsonWhere& w,
                                               std::vector<std::pair<std::string, int>>* vocab = nullptr,
                                               std::vector<std::pair<std::string, std::string>>* merges = nullptr);
    /// From parts (tests, synthetic tokenizers). Merges name tokens; a missing one throws mixq::Error.
    BpeModel(std::vector<std::pair<std::string, int>> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
             BpeOptions options, const JsonWhere& w = {"bpe", "model"});

    /// Appends the ids of one pre-tokenized word (valid UTF-8).
    void tokenize(std::string_view word, std::vector<int>& out) const;

    std::optional<int> token_to_id(std::string_view token) const { return m_vocab.find(token); }
    /// The token with that id; nullopt when there is none.
    std::optional<std::string_view> id_to_token(int id) const;
    int max_id() const { return static_cast<int>(m_id_to_token.size()) - 1; }
    size_t vocab_count() const { return m_vocab.size(); }
    size_t merge_count() const { return m_merges.size(); }
    const BpeOptions& options() const { return m_options; }

private:
    using Merge = PairTable::Value;
    BpeModel() = default;
    void set_vocab(std::vector<std::pair<std::string, int>>&& vocab);
    void add_merge(std::string_view a, std::string_view b, uint32_t rank, const JsonWhere& merges_where, size_t index);
    const Merge* find_merge(int a, int b) const;
    void merge_word(std::string_view word, std::vector<int>& out) const;

    TokenTable m_vocab;
    std::vector<std::string_view> m_id_to_token;  // into m_vocab's arena; data() == nullptr for unused ids
    PairTable m_merges;
    BpeOptions m_options;
    int m_unk_id = -1;
    int m_byte_ids[256];
    std::string m_join_buffer;  // scratch for add_merge while loading

    mutable std::mutex m_cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> m_cache;
};

}  // namespace mixq::tok
