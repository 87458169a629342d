// SPDX-License-Identifier: MIT
// Spearman's rank correlation for the scorer tests (1 - 6 sum d^2 / (n (n^2 - 1)), ranks by sort order: ties get
// distinct ranks, which the KLD vectors compared here do not have in practice). tests/gpu/test_cuda_scorer.cpp keeps
// its own average-rank version.
#pragma once
#include <algorithm>
#include <numeric>
#include <vector>

namespace mixq_test {

inline std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size(); ++i) r[idx[i]] = static_cast<double>(i);
    return r;
}

inline double spearman(const std::vector<double>& a, const std::vector<double>& b) {
    const auto ra = ranks(a), rb = ranks(b);
    const double n = static_cast<double>(a.size());
    double d2 = 0;
    for (size_t i = 0; i < a.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
    return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

}  // namespace mixq_test
