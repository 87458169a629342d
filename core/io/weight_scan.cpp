// SPDX-License-Identifier: MIT
// scan_weights (see weight_scan.h).
#include "core/io/weight_scan.h"

#include <chrono>

namespace mixq::io {

WeightScan scan_weights(const TensorStore& store) {
    const auto t0 = std::chrono::steady_clock::now();
    WeightScan r;
    for (const auto& t : store.tensors()) {
        store.raw_checked(t.name);
        store.release(t.name);
        ++r.tensors;
        r.bytes += t.nbytes;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace mixq::io
