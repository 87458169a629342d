// SPDX-License-Identifier: MIT
// measure_read_bandwidth and peak_rss_bytes (Linux /proc).
#include "core/common/memory_bandwidth.h"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <Eigen/Dense>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace mixq {

double measure_read_bandwidth(size_t bytes, int repeats) {
    const size_t n = bytes / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) buf[static_cast<size_t>(i)] = static_cast<float>(i & 1023);
    double best = 0.0;
    volatile float sink = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        double total = 0.0;
        // Each thread sums a contiguous chunk with Eigen's vectorized reduction (several accumulators), so the
        // loop is limited by memory, not by a serial add chain.
#pragma omp parallel reduction(+ : total)
        {
            int nt = 1, id = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            id = omp_get_thread_num();
#endif
            const size_t chunk = (n + static_cast<size_t>(nt) - 1) / static_cast<size_t>(nt);
            const size_t b = std::min(n, chunk * static_cast<size_t>(id)), e = std::min(n, b + chunk);
            total += Eigen::Map<const Eigen::VectorXf>(buf.data() + b, static_cast<Eigen::Index>(e - b)).sum();
        }
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + static_cast<float>(total);
        best = std::max(best, static_cast<double>(bytes) / sec);
    }
    (void)sink;
    return best;
}

size_t peak_rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::stoull(line.substr(6))) * 1024;
    return 0;
}

}  // namespace mixq
