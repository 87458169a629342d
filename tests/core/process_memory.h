// SPDX-License-Identifier: MIT
// This process's memory as Linux reports it, for the tests that bound peak or resident memory: a field of
// /proc/self/status, and resetting the peak (VmHWM) to the current RSS through /proc/self/clear_refs.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

namespace mixq_test {

/// A field of /proc/self/status in bytes (VmRSS, VmHWM); 0 when absent.
inline uint64_t status_bytes(const std::string& key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1)) * 1024;
    return 0;
}

/// Resets VmHWM to the current RSS; false where /proc/self/clear_refs is not writable.
inline bool reset_peak() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
    return static_cast<bool>(f);
}

}  // namespace mixq_test
