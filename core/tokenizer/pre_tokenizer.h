// SPDX-License-Identifier: MIT
// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Split (regex or literal, all five delimiter behaviors,
// invert), ByteLevel, Metaspace, Sequence, Whitespace, WhitespaceSplit, Digits, Punctuation, BertPreTokenizer.
// They cut a normalized piece of text into the words the model encodes one by one.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/regex.h"

namespace mixq::tok {

/// One piece of text on its way to the model. `at_origin`: the piece starts at offset 0 of the input (what
/// Metaspace's prepend_scheme "first" tests).
struct PreToken {
    std::string text;
    bool at_origin = false;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// Applies Hugging Face's delimiter behavior: `matches` are the delimiter spans found in a string of length
/// `size` (sorted, non-overlapping); returns the [start, end) spans of the resulting non-empty pieces.
std::vector<Regex::Span> split_spans(size_t size, const std::vector<Regex::Span>& matches, SplitBehavior behavior,
                                     bool invert);

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    /// Replaces `pieces` by their pre-tokenized sub-pieces (empty ones dropped). Text must be valid UTF-8.
    virtual void pre_tokenize(std::vector<PreToken>& pieces) const = 0;
};

/// Builds the pre-tokenizer described by `j`; nullptr for JSON null. Unknown types throw mixq::Error.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const JsonWhere& w);

}  // namespace mixq::tok
