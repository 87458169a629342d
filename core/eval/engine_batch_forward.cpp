// SPDX-License-Identifier: MIT
// EngineModel::logits_batch: the rows as one ragged forward of the CPU engine (no padding). When batch_shape splits
// (every row names a shared prefix, fewer distinct prefixes than rows), the distinct prefixes run as one ragged
// forward filling a KV cache each, then every row's suffix runs on its own copy of its prefix's cache (one ragged
// forward of all suffixes), as the ONNX runner does with past_key_values. A row gets the same positions and the
// same keys as its one-at-a-time forward.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>

#include "core/common/error.h"
#include "core/eval/engine_model.h"

namespace mixq::eval {
namespace {

/// glibc's malloc serves a block above its mmap threshold (128 KiB at start) with a fresh mmap whose pages fault
/// in on first touch, and raises the threshold to the size of such a block when it is freed (at most 32 MiB). The
/// one-at-a-time path frees whole-sequence logits every forward and so runs with a raised threshold; a ragged
/// forward computes few logits rows, so each of its activations would be mapped and faulted anew (measured: batch 8
/// at 0.82x of batch 1 on the demo model's MMLU, 1.08x with this; ~5% on a 100M model). Freeing one block as large
/// as the forward's largest activation raises it the same way without touching a page. Elsewhere a plain malloc/free.
void raise_mmap_threshold(size_t bytes) {
    static std::atomic<size_t> raised{0};
    bytes = std::min(bytes, size_t(32) << 20);
    if (bytes <= raised.load()) return;
    void* volatile block = std::malloc(bytes);  // volatile: the pair must not be optimized away
    std::free(block);
    raised.store(bytes);
}

}  // namespace

std::vector<engine::RowMatrix> EngineModel::logits_batch(const std::vector<engine::BatchSeq>& seqs,
                                                         const CancelToken& cancel) {
    const std::string label = m_tf->model().dir().string();
    for (const auto& s : seqs) {
        const auto n = static_cast<int>(s.ids.size());
        if (n == 0) fail(label, "a batched sequence needs at least one token");
        if (s.first < 0 || s.first >= n)
            fail(label, "logits wanted from position " + std::to_string(s.first) + " of a " + std::to_string(n) +
                            "-token sequence");
        if (n > context_length())
            fail(label, "sequence of " + std::to_string(n) + " tokens exceeds the context length " +
                            std::to_string(context_length()));
    }
    if (seqs.empty()) return {};
    auto& tf = *m_tf;
    const auto& c = tf.config();
    size_t positions = 0, longest = 0;
    for (const auto& s : seqs) {
        positions += s.ids.size();
        longest = std::max(longest, s.ids.size());
    }
    // The largest activation ([positions, intermediate] or q|k|v) and what one row's own forward frees (its logits).
    const auto width = static_cast<size_t>(std::max({c.intermediate_size, c.q_dim() + 2 * c.kv_dim(), c.hidden_size}));
    raise_mmap_threshold(4 * std::max(positions * width, longest * static_cast<size_t>(c.vocab_size)) + 4096);
    if (!engine::batch_shape(seqs).split) {
        std::vector<engine::RaggedSeq> rows;
        for (const auto& s : seqs) rows.push_back({s.ids, nullptr, s.first});
        return tf.forward_ragged(rows, &cancel);
    }
    // The distinct prefixes, each computed once into its own cache; logits from the first position any row wants.
    std::map<std::vector<int>, size_t> prefix_index;
    std::vector<engine::RaggedSeq> prefixes;
    std::vector<size_t> prefix_of(seqs.size());
    for (size_t b = 0; b < seqs.size(); ++b) {
        const auto& s = seqs[b];
        std::vector<int> p(s.ids.begin(), s.ids.begin() + s.shared);
        auto [it, fresh] = prefix_index.emplace(p, prefixes.size());
        if (fresh) prefixes.push_back({std::move(p), nullptr, s.shared});
        prefix_of[b] = it->second;
        auto& pre = prefixes[it->second];
        pre.logits_from = std::min(pre.logits_from, std::min(s.first, s.shared));
    }
    std::vector<engine::KVCache> caches;
    caches.reserve(prefixes.size());
    for (auto& p : prefixes) {
        caches.push_back(tf.make_cache(static_cast<int>(p.ids.size())));
        p.cache = &caches.back();
    }
    const std::vector<engine::RowMatrix> pre = tf.forward_ragged(prefixes, &cancel);

    // Each suffix on a copy of its prefix's cache (rows continue the same sequence, so they cannot share one).
    std::vector<engine::KVCache> forks;
    std::vector<engine::RaggedSeq> suffixes;
    std::vector<int64_t> suffix_of(seqs.size(), -1);
    forks.reserve(seqs.size());
    for (size_t b = 0; b < seqs.size(); ++b) {
        const auto& s = seqs[b];
        const int n = static_cast<int>(s.ids.size());
        if (n == s.shared) continue;
        const engine::KVCache& src = caches[prefix_of[b]];
        forks.push_back(tf.make_cache(n));
        engine::KVCache& dst = forks.back();
        for (size_t l = 0; l < src.k.size(); ++l) {
            dst.k[l].topRows(src.length) = src.k[l];
            dst.v[l].topRows(src.length) = src.v[l];
        }
        dst.length = src.length;
        suffix_of[b] = static_cast<int64_t>(suffixes.size());
        suffixes.push_back({std::vector<int>(s.ids.begin() + s.shared, s.ids.end()), &dst,
                            std::max(s.first, s.shared) - s.shared});
    }
    caches.clear();
    const std::vector<engine::RowMatrix> suf = tf.forward_ragged(suffixes, &cancel);

    std::vector<engine::RowMatrix> out;
    out.reserve(seqs.size());
    for (size_t b = 0; b < seqs.size(); ++b) {
        const auto& s = seqs[b];
        const int n = static_cast<int>(s.ids.size());
        engine::RowMatrix m(n - s.first, vocab_size());
        if (s.first < s.shared) {  // prefix positions: from its prefix's logits (which start at its logits_from)
            const auto& p = prefixes[prefix_of[b]];
            m.topRows(s.shared - s.first) = pre[prefix_of[b]].middleRows(s.first - p.logits_from, s.shared - s.first);
        }
        if (n > s.shared)
            m.bottomRows(n - std::max(s.first, s.shared)) = suf[static_cast<size_t>(suffix_of[b])];
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace mixq::eval
