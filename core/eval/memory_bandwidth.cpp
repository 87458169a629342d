// SPDX-License-Identifier: MIT
// measure_read_bandwidth and peak_rss_bytes (Linux /proc).
#include "core/eval/memory_bandwidth.h"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace mixq::eval {

double measure_read_bandwidth(size_t bytes, int repeats) {
    const size_t n = bytes / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) buf[static_cast<size_t>(i)] = static_cast<float>(i & 1023);
    double best = 0.0;
    volatile float sink = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        float total = 0.0f;
#pragma omp parallel for reduction(+ : total) schedule(static)
        for (int64_t i = 0; i < static_cast<int64_t>(n); i += 8) {
            float s = 0;
            for (int j = 0; j < 8 && i + j < static_cast<int64_t>(n); ++j) s += buf[static_cast<size_t>(i + j)];
            total += s;
        }
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sink = sink + total;
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

}  // namespace mixq::eval
