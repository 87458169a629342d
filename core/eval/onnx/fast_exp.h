// SPDX-License-Identifier: MIT
// A vectorized exp for the runner's softmax (attention) and Sigmoid: Cephes' expf (x = n·ln2 + r, a degree-6
// polynomial for exp(r), times 2^n), 8 lanes at a time with AVX2/FMA, the same arithmetic one lane at a time for the
// rest. Within 2 ulp of std::exp on [−87, 0]; std::exp itself does not vectorize and was ~1.4% of runner time.
#pragma once
#include <cstdint>

namespace mixq::eval::onnx {

/// exp(x) for x <= 0 (x < −87 gives 0), one value.
float exp_nonpositive(float x);

/// x[j] = exp(x[j] − shift) for j < n, where every x[j] <= shift; returns the sum of the results.
float exp_shifted_sum(float* x, int64_t n, float shift);

/// y[j] = 1 / (1 + exp(−x[j])) for j < n (y may be x).
void sigmoid(const float* x, float* y, int64_t n);

}  // namespace mixq::eval::onnx
