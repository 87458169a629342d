// SPDX-License-Identifier: MIT
// Tokenizer: loads a Hugging Face tokenizer.json (model BPE: byte-level GPT-2/Qwen/Llama-3 style, or
// SentencePiece-style with ▁ and <0xNN> byte fallback), encodes text to ids and decodes ids to text.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mixq::tok {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    /// Loads tokenizer.json (or the tokenizer.json inside a folder). Throws mixq::Error "<path>: <problem>"
    /// for malformed or unsupported files.
    static std::unique_ptr<Tokenizer> from_file(const std::filesystem::path& path);
    /// Same, from JSON text; `label` names the source in error messages.
    static std::unique_ptr<Tokenizer> from_json(const std::string& json_text, const std::string& label);

    /// Encodes UTF-8 text. Added/special tokens present in the text are matched first. With
    /// add_special_tokens the post-processor's tokens (e.g. BOS) are added as the file specifies.
    virtual std::vector<int> encode(const std::string& text, bool add_special_tokens = false) const = 0;
    /// Decodes ids back to UTF-8 text (invalid byte sequences become U+FFFD).
    virtual std::string decode(const std::vector<int>& ids, bool skip_special_tokens = false) const = 0;

    virtual int vocab_size() const = 0;  ///< largest id + 1, added tokens included
    virtual std::optional<int> token_to_id(const std::string& token) const = 0;
    virtual std::string id_to_token(int id) const = 0;

    /// True when `id` is an added token flagged "special" (what decode(..., true) skips).
    virtual bool is_special_token(int id) const { return false; }
    /// transformers' clean_up_tokenization_spaces, applied after decoding (" ." -> ".", " n't" -> "n't", ...).
    /// from_file() takes it from a tokenizer_config.json beside the file; it is off otherwise.
    virtual void set_clean_up_tokenization_spaces(bool on) {}
    virtual bool clean_up_tokenization_spaces() const { return false; }
};

/// Ids the tokenizer produced must index the model's embedding table: an id >= `model_vocab` is the tokenizer
/// file's fault (it disagrees with config.json vocab_size), so the error names `tokenizer_file` and the token.
void check_ids_in_model_vocab(const Tokenizer& tok, const std::vector<int>& ids, int64_t model_vocab,
                              const std::string& tokenizer_file);

}  // namespace mixq::tok
