// SPDX-License-Identifier: MIT
// CUDA device enumeration (name, compute capability, free/total memory). Plain C++ API; safe to call on a
// machine without a GPU or driver: it returns an empty list and a reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mixq::gpu {

struct DeviceInfo {
    int index = 0;
    std::string name;
    int cc_major = 0;
    int cc_minor = 0;
    uint64_t free_bytes = 0;
    uint64_t total_bytes = 0;
    int multiprocessors = 0;
};

/// Lists CUDA devices. When none can be used, returns {} and sets `why` (e.g. "no CUDA driver").
std::vector<DeviceInfo> list_devices(std::string* why = nullptr);

}  // namespace mixq::gpu
