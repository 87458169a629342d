// SPDX-License-Identifier: MIT
// Fuzz target: config.json parsing. Accepted configs must satisfy the invariants the engine relies on.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/common/error.h"
#include "core/io/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto c = mixq::io::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
        if (c.hidden_size <= 0 || c.num_heads <= 0 || c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0 ||
            c.head_dim <= 0 || c.head_dim % 2 != 0 || !(c.rms_norm_eps > 0))
            std::abort();
    } catch (const mixq::Error&) {
    }
    return 0;
}
