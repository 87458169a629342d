// SPDX-License-Identifier: MIT
// A small persistent worker pool for the ONNX runner's kernels. The process runs OpenMP with passive waiting
// (core/common/omp_wait.h), so a parallel region wakes sleeping threads through the kernel every time: for one
// decode step's many small MatMulNBits calls that wake-up costs about what the work saves. These workers wait a
// bounded time (MIXQ_RUNNER_SPIN_US, default 100 µs) after each job, so back-to-back calls find them awake: 5 µs
// of pure spinning, then spinning that yields between checks (on a loaded machine the time slice goes to whoever
// can run); then they sleep on a condition variable, so an idle machine does not lose a core to them.
#pragma once
#include <cstdint>
#include <utility>

namespace mixq::eval::onnx {

/// Threads parallel_for uses by default: omp_get_max_threads() (OMP_NUM_THREADS, or what the program set).
int runner_threads();

/// Runs call(ctx, i) for every i in [0, n) on up to `threads` threads (0: runner_threads()), the caller being one;
/// returns when all are done. Items are handed out one at a time in order; a call from inside an item (or an
/// OpenMP region) runs serially on its thread.
void parallel_for_raw(int64_t n, void (*call)(void*, int64_t), void* ctx, int threads = 0);

/// parallel_for(n, [&](int64_t i) { ... }).
template <class F>
void parallel_for(int64_t n, F&& fn, int threads = 0) {
    if (n <= 0) return;
    parallel_for_raw(
        n, [](void* c, int64_t i) { (*static_cast<std::remove_reference_t<F>*>(c))(i); },
        const_cast<void*>(static_cast<const void*>(&fn)), threads);
}

}  // namespace mixq::eval::onnx
