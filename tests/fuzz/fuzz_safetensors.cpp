// SPDX-License-Identifier: MIT
// Fuzz target: the safetensors header validator on arbitrary bytes (a whole "file"). Any input must either parse
// into tensors whose byte ranges lie inside the input, or throw mixq::Error.
#include <cstdint>
#include <cstdlib>

#include "core/common/error.h"
#include "core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto tensors = mixq::io::parse_safetensors_header(data, size, "fuzz.safetensors");
        for (const auto& t : tensors)
            if (t.offset + t.nbytes > size || t.offset < 8) std::abort();  // a range outside the file is a bug
    } catch (const mixq::Error&) {
    }
    return 0;
}
