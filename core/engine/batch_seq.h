// SPDX-License-Identifier: MIT
// BatchSeq: one sequence of a batched forward (LanguageModel::logits_batch), and the shape rule a batching backend
// follows: rows naming a shared prefix (the same first `shared` tokens) may have that prefix computed once, its KV
// cache then continued by each row's own tokens (two forwards: the distinct prefixes, then the suffixes); otherwise
// one forward of all rows, right-padded to the longest.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

namespace mixq::engine {

struct BatchSeq {
    std::vector<int> ids;
    int first = 0;   ///< logits rows [first, ids.size()) come back
    int shared = 0;  ///< ids[0, shared) may be shared with other rows holding the same tokens there (0: none)
};

/// Positions a batching backend computes for `seqs`: real ones and padded ones (what its forwards allocate).
struct BatchShape {
    bool split = false;  ///< prefixes first, then suffixes on their KV cache
    int64_t real = 0, padded = 0;
};

/// The rule: split when every row names a shared prefix and fewer distinct prefixes than rows exist.
inline BatchShape batch_shape(const std::vector<BatchSeq>& seqs) {
    BatchShape s;
    std::map<std::vector<int>, int64_t> prefixes;
    bool all_shared = !seqs.empty();
    int64_t longest = 0, longest_suffix = 0, suffixes = 0, real_single = 0;
    for (const auto& q : seqs) {
        const auto n = static_cast<int64_t>(q.ids.size());
        longest = std::max(longest, n);
        real_single += n;
        all_shared = all_shared && q.shared > 0 && q.shared <= n;
        if (q.shared > 0 && q.shared <= n) {
            prefixes.emplace(std::vector<int>(q.ids.begin(), q.ids.begin() + q.shared), int64_t(q.shared));
            if (n > q.shared) {
                ++suffixes;
                longest_suffix = std::max(longest_suffix, n - q.shared);
                s.real += n - q.shared;
            }
        }
    }
    s.split = all_shared && prefixes.size() < seqs.size();
    if (!s.split) {
        s.real = real_single;
        s.padded = longest * static_cast<int64_t>(seqs.size());
        return s;
    }
    int64_t longest_prefix = 0;
    for (const auto& [ids, n] : prefixes) {
        s.real += n;
        longest_prefix = std::max(longest_prefix, n);
    }
    s.padded = longest_prefix * static_cast<int64_t>(prefixes.size()) + longest_suffix * suffixes;
    return s;
}

}  // namespace mixq::engine
