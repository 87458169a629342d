// SPDX-License-Identifier: MIT
// Fuzz target: the demo model's byte-level BPE encoder on arbitrary bytes (valid or invalid UTF-8). Encoding must
// never fail, ids must be in the vocabulary, and decode(encode(x)) must equal x for ASCII without specials.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::unique_ptr<mixq::tok::Tokenizer> tok =
        mixq::tok::Tokenizer::from_file(std::string(MIXQ_SOURCE_RESOURCES) + "/demo-model/tokenizer.json");
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto ids = tok->encode(text);
    for (int id : ids)
        if (id < 0 || id >= tok->vocab_size()) std::abort();
    // ASCII is invariant under NFC, so it must round-trip exactly (unless it spells a special token).
    bool ascii = true;
    for (unsigned char c : text) ascii &= c < 0x80;
    if (ascii && text.find("<|endoftext|>") == std::string::npos && tok->decode(ids) != text) std::abort();
    return 0;
}
