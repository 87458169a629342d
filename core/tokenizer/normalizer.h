// SPDX-License-Identifier: MIT
// Normalizers of tokenizer.json ("normalizer"): NFC/NFD/NFKC/NFKD (ICU), Lowercase, Prepend, Replace, Strip,
// StripAccents and Sequence. They rewrite valid UTF-8 in place; offsets are not tracked (encode only needs ids).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/tokenizer/json_fields.h"

namespace mixq::tok {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& s) const = 0;
};

/// Builds the normalizer described by `j`; nullptr for JSON null. Unknown types throw mixq::Error.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const JsonWhere& w);

}  // namespace mixq::tok
