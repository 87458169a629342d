// SPDX-License-Identifier: MIT
// Fuzz target: loading arbitrary tokenizer.json text, then encoding/decoding a fixed sentence with whatever loaded.
#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto tok = mixq::tok::Tokenizer::from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
        const auto ids = tok->encode("Hello, world! 123 \xc3\xa9\xf0\x9f\x99\x82 <|endoftext|>", true);
        (void)tok->decode(ids);
    } catch (const mixq::Error&) {
    }
    return 0;
}
