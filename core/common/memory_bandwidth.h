// SPDX-License-Identifier: MIT
// Measured DRAM read bandwidth (a STREAM-style sum over a buffer much larger than the caches, all threads),
// the denominator of the decode bandwidth bound.
#pragma once
#include <cstddef>

namespace mixq {

/// Bytes per second read from a `bytes`-sized buffer, best of `repeats` passes.
double measure_read_bandwidth(size_t bytes = size_t(512) << 20, int repeats = 5);

/// Peak resident set size of this process (VmHWM) in bytes, or 0 when unknown.
size_t peak_rss_bytes();

}  // namespace mixq
