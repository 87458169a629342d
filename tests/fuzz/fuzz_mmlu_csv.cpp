// SPDX-License-Identifier: MIT
// Fuzz target: the MMLU subject-file reader (RFC 4180 CSV + row validation) on arbitrary bytes. Any input must
// either parse into questions with an answer A-D and four choices, or throw mixq::Error; the prompt is built for
// every accepted question.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/common/error.h"
#include "core/eval/mmlu.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto qs = mixq::eval::parse_mmlu_csv(std::string(reinterpret_cast<const char*>(data), size),
                                                   "fuzz_subject", "fuzz_subject_test.csv");
        for (const auto& q : qs) {
            if (q.answer < 0 || q.answer > 3 || q.where.empty()) std::abort();
            if (mixq::eval::mmlu_prompt(q).find("\nAnswer:") == std::string::npos) std::abort();
        }
    } catch (const mixq::Error&) {
    }
    return 0;
}
