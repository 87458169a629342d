// SPDX-License-Identifier: MIT
// Fuzz target: the PIQA reader (valid.jsonl + valid-labels.lst). The input is split at its first NUL byte:
// before it the JSON-lines text, after it the labels text (no NUL: empty labels). Any input must either parse
// into items with label 0/1 (as many labels as items) or throw mixq::Error.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/common/error.h"
#include "core/eval/piqa.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = reinterpret_cast<const char*>(data);
    const void* nul = std::memchr(p, 0, size);
    const size_t split = nul ? static_cast<size_t>(static_cast<const char*>(nul) - p) : size;
    const std::string jsonl(p, split);
    const std::string labels = nul ? std::string(p + split + 1, size - split - 1) : std::string();
    try {
        const auto items = mixq::eval::parse_piqa(jsonl, "valid.jsonl", labels, "valid-labels.lst");
        for (const auto& it : items) {
            if (it.label != 0 && it.label != 1) std::abort();
            if (mixq::eval::utf8_length(it.sol1) < 0 || mixq::eval::utf8_length(it.sol2) < 0) std::abort();
            (void)mixq::eval::piqa_context(it);
        }
    } catch (const mixq::Error&) {
    }
    return 0;
}
