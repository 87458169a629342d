// SPDX-License-Identifier: MIT
// Decoders of tokenizer.json ("decoder"): ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, BPEDecoder
// and Sequence. Each rewrites the list of token strings; the tokenizer joins what is left.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tokenizer/json_fields.h"

namespace mixq::tok {

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// Builds the decoder described by `j`; nullptr for JSON null. Unknown types throw mixq::Error.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const JsonWhere& w);

}  // namespace mixq::tok
