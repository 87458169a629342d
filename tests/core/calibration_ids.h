// SPDX-License-Identifier: MIT
// Deterministic calibration ids spread over a vocabulary, for the scorer tests (scoring needs no tokenizer).
#pragma once
#include <vector>

#include "core/score/calibration.h"

namespace mixq_test {

/// `n` sequences of `t` ids in [0, vocab - 1): id i of sequence s is (131 s + 37 i + (i² mod 17)) mod (vocab − 1).
inline mixq::score::CalibrationSet calibration_ids(int n, int t, int vocab = 1024) {
    mixq::score::CalibrationSet c;
    c.source = "test";
    for (int s = 0; s < n; ++s) {
        std::vector<int> seq;
        for (int i = 0; i < t; ++i) seq.push_back((s * 131 + i * 37 + (i * i) % 17) % (vocab - 1));
        c.sequences.push_back(seq);
    }
    return c;
}

}  // namespace mixq_test
