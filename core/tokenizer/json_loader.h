// SPDX-License-Identifier: MIT
// Parses tokenizer.json quickly: model.vocab and model.merges (the bulk of a 10 MB file) are streamed straight
// into vectors instead of a JSON tree; everything else becomes an ordinary nlohmann::json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mixq::tok {

struct TokenizerJson {
    nlohmann::json root;  ///< the document; model.vocab / model.merges are left empty when captured below
    bool vocab_captured = false;
    bool merges_captured = false;
    std::vector<std::pair<std::string, int>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;
};

/// Throws mixq::Error "<label>: ..." for invalid JSON and malformed vocab/merges entries.
TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& label);

}  // namespace mixq::tok
