// SPDX-License-Identifier: MIT
// scan_weights: every tensor of a model read once with the non-finite check that guards every read
// (TensorStore::raw_checked: a bit test per 16-bit value, std::isfinite per fp32 value), its mapped pages dropped
// after, so `mixq info` can flag a NaN or Inf weight up front instead of when some job first reads it.
#pragma once
#include <cstdint>

#include "core/io/safetensors.h"

namespace mixq::io {

struct WeightScan {
    int64_t tensors = 0;
    uint64_t bytes = 0;
    double seconds = 0;
};

/// Throws mixq::Error "<shard>: tensor 'NAME' holds a non-finite weight (NaN) at [r, c]; ..." at the first one.
WeightScan scan_weights(const TensorStore& store);

}  // namespace mixq::io
