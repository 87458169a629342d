// SPDX-License-Identifier: MIT
// Recycled buffers for the ONNX runner's large tensors. Every op allocates its outputs and the runner frees each
// value after its last use, so every step would otherwise map, zero-fault and unmap the same large buffers again
// (glibc serves them with mmap). Freed buffers of 64 KiB or more wait here, by size class, for the next request of
// that class (up to a cap in total); handed out zero-filled, as new, unless the caller will write every byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mixq::eval::onnx {

/// A buffer of at least `bytes` bytes, zero-filled unless `zero` is false (then its contents are undefined);
/// released into the pool (or freed) when the last owner goes.
std::shared_ptr<uint8_t[]> pooled_buffer(size_t bytes, bool zero = true);

/// Bytes currently held by the pool, free for reuse (tests).
size_t tensor_pool_free_bytes();

}  // namespace mixq::eval::onnx
