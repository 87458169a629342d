// SPDX-License-Identifier: MIT
// Fuzz target: plan.json reading (schema mixq.plan/1): arbitrary text must parse into a consistent plan or throw.
#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/plan/plan_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        (void)mixq::plan::plan_from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    } catch (const mixq::Error&) {
    }
    return 0;
}
