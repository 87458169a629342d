// SPDX-License-Identifier: MIT
// Fuzz target: scores.json reading (schema mixq.scores/1). Accepted tables must be internally consistent.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/common/error.h"
#include "core/score/score_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto t = mixq::score::score_table_from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
        for (const auto& u : t.units)
            if (u.candidates.size() != t.candidates.size() || u.members.size() != u.shapes.size()) std::abort();
    } catch (const mixq::Error&) {
    }
    return 0;
}
