// SPDX-License-Identifier: MIT
// list_devices via the CUDA runtime API (the caller's current device is left unchanged).
#include <cuda_runtime.h>

#include "gpu/device_info.h"

#include <dlfcn.h>

namespace mixq::gpu {

std::vector<DeviceInfo> list_devices(std::string* why) {
    std::vector<DeviceInfo> out;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        // The static runtime reports a missing driver as "driver version is insufficient": name the real cause.
        void* driver = err == cudaErrorInsufficientDriver ? dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) : nullptr;
        if (driver) dlclose(driver);
        if (why)
            *why = err == cudaErrorInsufficientDriver && !driver
                       ? "CUDA unavailable: no NVIDIA driver (libcuda.so.1 not found)"
                   : err != cudaSuccess ? std::string("CUDA unavailable: ") + cudaGetErrorString(err)
                                        : "no CUDA device";
        cudaGetLastError();
        return out;
    }
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess;
    for (int i = 0; i < n; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        DeviceInfo d;
        d.index = i;
        d.name = prop.name;
        d.cc_major = prop.major;
        d.cc_minor = prop.minor;
        d.multiprocessors = prop.multiProcessorCount;
        size_t free_b = 0, total_b = 0;
        if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
            d.free_bytes = free_b;
            d.total_bytes = total_b;
        }
        out.push_back(d);
    }
    if (restore) cudaSetDevice(current);  // the probe must not change the caller's current device
    return out;
}

}  // namespace mixq::gpu
