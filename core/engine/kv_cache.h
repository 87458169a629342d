// SPDX-License-Identifier: MIT
// KVCache: per-layer key/value rows [positions, kv_heads*head_dim] for incremental decoding.
#pragma once
#include <vector>

#include "core/engine/tensor.h"

namespace mixq::engine {

struct KVCache {
    std::vector<RowMatrix> k;  ///< per layer, capacity rows
    std::vector<RowMatrix> v;
    int length = 0;            ///< positions filled

    KVCache() = default;
    KVCache(int n_layers, int capacity, int kv_dim) { reset(n_layers, capacity, kv_dim); }
    void reset(int n_layers, int capacity, int kv_dim) {
        k.assign(n_layers, RowMatrix(capacity, kv_dim));
        v.assign(n_layers, RowMatrix(capacity, kv_dim));
        length = 0;
    }
    int capacity() const { return k.empty() ? 0 : static_cast<int>(k[0].rows()); }
};

}  // namespace mixq::engine
