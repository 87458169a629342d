// SPDX-License-Identifier: MIT
// The ONNX runner's pool of large tensor buffers (tensor_pool.h): size classes a quarter octave apart (a growing
// KV cache reuses one class for many steps; at most 25% over the request), a mutex, and a cap on what is kept free.
#include "core/eval/onnx/tensor_pool.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace mixq::eval::onnx {
namespace {

constexpr size_t kMinPooled = size_t(64) << 10;  ///< smaller buffers come from malloc's own free lists
constexpr size_t kMaxFree = size_t(256) << 20;   ///< at most this many bytes wait for reuse

/// The smallest 2^k · {4, 5, 6, 7} / 4 at or above `bytes` (bytes ≥ kMinPooled).
size_t size_class(size_t bytes) {
    size_t octave = kMinPooled;
    while (octave * 2 <= bytes) octave *= 2;
    for (size_t q = 4; q <= 7; ++q)
        if (octave / 4 * q >= bytes) return octave / 4 * q;
    return octave * 2;
}

struct Pool {
    std::mutex mu;
    std::map<size_t, std::vector<uint8_t*>> free;
    size_t free_bytes = 0;

    uint8_t* take(size_t bytes, bool zero) {
        {
            std::lock_guard<std::mutex> lock(mu);
            auto it = free.find(bytes);
            if (it != free.end() && !it->second.empty()) {
                uint8_t* p = it->second.back();
                it->second.pop_back();
                free_bytes -= bytes;
                if (zero) std::memset(p, 0, bytes);
                return p;
            }
        }
        return zero ? new uint8_t[bytes]() : new uint8_t[bytes];
    }

    void give(uint8_t* p, size_t bytes) {
        {
            std::lock_guard<std::mutex> lock(mu);
            if (free_bytes + bytes <= kMaxFree) {
                free[bytes].push_back(p);
                free_bytes += bytes;
                return;
            }
        }
        delete[] p;
    }
};

/// Never destroyed: tensors held by static objects may be released after other statics are gone.
Pool& pool() {
    static Pool* p = new Pool;
    return *p;
}

}  // namespace

std::shared_ptr<uint8_t[]> pooled_buffer(size_t bytes, bool zero) {
    if (bytes < kMinPooled) {
        const size_t n = std::max<size_t>(bytes, 1);
        return std::shared_ptr<uint8_t[]>(zero ? new uint8_t[n]() : new uint8_t[n]);
    }
    const size_t rounded = size_class(bytes);
    return std::shared_ptr<uint8_t[]>(pool().take(rounded, zero), [rounded](uint8_t* p) { pool().give(p, rounded); });
}

size_t tensor_pool_free_bytes() {
    std::lock_guard<std::mutex> lock(pool().mu);
    return pool().free_bytes;
}

}  // namespace mixq::eval::onnx
