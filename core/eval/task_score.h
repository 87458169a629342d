// SPDX-License-Identifier: MIT
// Accuracy of n 0/1 outcomes with the standard error lm-evaluation-harness reports (mean_stderr: sample standard
// deviation with n−1 over √n, which for 0/1 outcomes is sqrt(p(1−p)/(n−1))).
#pragma once
#include <cmath>
#include <cstdint>

namespace mixq::eval {

struct Accuracy {
    int64_t n = 0;
    int64_t correct = 0;
    double acc() const { return n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
    /// sqrt(p(1-p)/(n-1)); 0 when n < 2.
    double stderr_() const {
        if (n < 2) return 0.0;
        const double p = acc();
        return std::sqrt(p * (1.0 - p) / static_cast<double>(n - 1));
    }
    void add(bool ok) {
        ++n;
        correct += ok ? 1 : 0;
    }
};

}  // namespace mixq::eval
