// SPDX-License-Identifier: MIT
// OnnxModel::logits_batch: several fresh sequences as batched forwards of the export's graph, fed as ONNX Runtime
// accepts them. One forward: rows right-padded to the longest, attention_mask marking each row's real tokens, so the
// graph's mask subgraph gives GroupQueryAttention seqlens_k = length - 1 per row and total_sequence_length = the
// padded length (a first prompt); every real position attends only to its own row's earlier real positions.
// Shared prefixes (batch_seq.h): the distinct prefixes run as such a forward (logits and present KV), then the
// suffixes run on that KV as past_key_values (each row's past = its prefix's positions, ragged; mask = past + all S
// new positions, so GroupQueryAttention puts row b's new tokens at positions past_b..; a short suffix's padding
// comes after its real tokens, where causality hides it). Padding never reaches a returned logit.
#include <algorithm>
#include <cstring>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_model.h"

namespace mixq::eval::onnx {
namespace {

/// One row of a forward: n new tokens after `past` cached positions.
struct RowInput {
    const int* ids;
    int64_t n, past;
};

struct ForwardOut {
    Tensor logits;  ///< [B, S, vocab]
    std::vector<Tensor> k, v;  ///< present per layer (when asked)
};

/// One forward of `rows` (new tokens right-padded to the longest) on `past_k/v` ([B, kv_heads, P, head] per layer,
/// or none: an empty past).
ForwardOut padded_forward(const GenaiDecoderConfig& c, const OnnxRunner& r, const std::vector<RowInput>& rows,
                          const std::vector<Tensor>* past_k, const std::vector<Tensor>* past_v, int64_t P,
                          bool want_present, const CancelToken& cancel) {
    const std::string& label = r.graph().label;
    const auto B = static_cast<int64_t>(rows.size());
    int64_t S = 0;
    for (const auto& row : rows) S = std::max(S, row.n);
    std::map<std::string, Tensor> in;
    auto index_input = [&](const std::string& name, int64_t cols, auto value_at) {
        const ValueInfo* vi = r.input_info(name);
        const bool i32 = vi && vi->elem_type == 6;
        Tensor t = Tensor::alloc(i32 ? DType::Int32 : DType::Int64, {B, cols});
        for (int64_t b = 0; b < B; ++b)
            for (int64_t p = 0; p < cols; ++p) {
                const int64_t v = value_at(b, p);
                if (i32) t.mutable_data<int32_t>()[b * cols + p] = static_cast<int32_t>(v);
                else t.mutable_data<int64_t>()[b * cols + p] = v;
            }
        in[name] = std::move(t);
    };
    // Padding positions hold token 0 (any valid id: their results are never read).
    index_input(c.input_ids, S, [&](int64_t b, int64_t p) {
        return p < rows[static_cast<size_t>(b)].n ? static_cast<int64_t>(rows[static_cast<size_t>(b)].ids[p]) : int64_t(0);
    });
    const bool ragged = std::any_of(rows.begin(), rows.end(), [&](const RowInput& x) {
        return x.n != S || x.past != rows[0].past || (P > 0 && x.past != P);
    });
    if (r.has_input(c.attention_mask)) {
        // First prompt: each row's real tokens. With a past: its cached positions, then all S new ones.
        index_input(c.attention_mask, P + S, [&](int64_t b, int64_t p) {
            const auto& row = rows[static_cast<size_t>(b)];
            if (P == 0) return int64_t(p < row.n ? 1 : 0);
            return int64_t(p < row.past || p >= P ? 1 : 0);
        });
    } else if (ragged) {
        fail(label, "the graph has no '" + c.attention_mask + "' input, so sequences of different lengths cannot share a forward");
    }
    if (r.has_input(c.position_ids))
        index_input(c.position_ids, S, [&](int64_t b, int64_t p) { return rows[static_cast<size_t>(b)].past + p; });
    const Tensor empty_past = Tensor::alloc(DType::Float, {B, c.num_kv_heads, 0, c.head_size});
    std::vector<std::string> outs{c.logits};
    for (int i = 0; i < c.num_layers; ++i) {
        in[layer_input_name(c.past_key_names, i)] = past_k ? (*past_k)[static_cast<size_t>(i)] : empty_past;
        in[layer_input_name(c.past_value_names, i)] = past_v ? (*past_v)[static_cast<size_t>(i)] : empty_past;
        if (want_present) {
            outs.push_back(layer_input_name(c.present_key_names, i));
            outs.push_back(layer_input_name(c.present_value_names, i));
        }
    }
    auto res = r.run(in, outs, &cancel);
    ForwardOut o;
    o.logits = res[c.logits];
    const Tensor& lg = o.logits;
    if (lg.dtype() != DType::Float || lg.rank() != 3 || lg.dim(0) != B || lg.dim(1) != S || lg.dim(2) != c.vocab_size)
        fail(label, "output '" + c.logits + "' is " + lg.describe() + ", expected float32[" + std::to_string(B) + "," +
                        std::to_string(S) + "," + std::to_string(c.vocab_size) + "] (per-position logits of every row)");
    if (want_present)
        for (int i = 0; i < c.num_layers; ++i) {
            o.k.push_back(res[layer_input_name(c.present_key_names, i)]);
            o.v.push_back(res[layer_input_name(c.present_value_names, i)]);
            const Tensor& k = o.k.back();
            if (k.dtype() != DType::Float || k.rank() != 4 || k.dim(0) != B || k.dim(1) != c.num_kv_heads ||
                k.dim(2) < P + S || k.dim(3) != c.head_size)
                fail(label, "present key of layer " + std::to_string(i) + " is " + k.describe());
        }
    return o;
}

/// Rows [first, n) of row b of a [B, S, vocab] logits tensor, positions counted from `offset`.
void copy_rows(const Tensor& lg, int64_t b, int64_t from, int64_t count, float* dst) {
    const int64_t S = lg.dim(1), V = lg.dim(2);
    const float* src = lg.data<float>() + (b * S + from) * V;
    std::copy(src, src + count * V, dst);
}

}  // namespace

std::vector<engine::RowMatrix> OnnxModel::logits_batch(const std::vector<engine::BatchSeq>& seqs,
                                                       const CancelToken& cancel) {
    const auto& c = m_cfg;
    const auto& r = *m_runner;
    const std::string& label = r.graph().label;
    if (seqs.empty()) return {};
    for (const auto& s : seqs) {
        const auto n = static_cast<int64_t>(s.ids.size());
        if (n == 0) fail(label, "a batched sequence needs at least one token");
        if (s.first < 0 || s.first >= n)
            fail(label, "logits wanted from position " + std::to_string(s.first) + " of a " + std::to_string(n) +
                            "-token sequence");
        if (n > c.context_length)
            fail(label, "sequence of " + std::to_string(n) + " tokens exceeds the context length " +
                            std::to_string(c.context_length));
    }
    std::vector<engine::RowMatrix> out;
    out.reserve(seqs.size());
    const int64_t vocab = c.vocab_size;
    if (!engine::batch_shape(seqs).split) {
        std::vector<RowInput> rows;
        for (const auto& s : seqs) rows.push_back({s.ids.data(), static_cast<int64_t>(s.ids.size()), 0});
        const ForwardOut f = padded_forward(c, r, rows, nullptr, nullptr, 0, false, cancel);
        for (size_t b = 0; b < seqs.size(); ++b) {
            const int64_t n = static_cast<int64_t>(seqs[b].ids.size()) - seqs[b].first;
            engine::RowMatrix m(n, vocab);
            copy_rows(f.logits, static_cast<int64_t>(b), seqs[b].first, n, m.data());
            out.push_back(std::move(m));
        }
        return out;
    }
    // The distinct prefixes, each computed once.
    std::map<std::vector<int>, size_t> prefix_index;
    std::vector<std::vector<int>> prefixes;
    std::vector<size_t> prefix_of(seqs.size());
    for (size_t b = 0; b < seqs.size(); ++b) {
        std::vector<int> p(seqs[b].ids.begin(), seqs[b].ids.begin() + seqs[b].shared);
        auto [it, fresh] = prefix_index.emplace(p, prefixes.size());
        if (fresh) prefixes.push_back(std::move(p));
        prefix_of[b] = it->second;
    }
    std::vector<RowInput> first_rows;
    for (const auto& p : prefixes) first_rows.push_back({p.data(), static_cast<int64_t>(p.size()), 0});
    const ForwardOut pre = padded_forward(c, r, first_rows, nullptr, nullptr, 0, true, cancel);
    // The suffixes on their prefix's KV cache: past [B2, kv_heads, P, head], row j's first past_j positions filled.
    std::vector<size_t> with_suffix;
    int64_t P = 0;
    for (size_t b = 0; b < seqs.size(); ++b)
        if (static_cast<int64_t>(seqs[b].ids.size()) > seqs[b].shared) {
            with_suffix.push_back(b);
            P = std::max<int64_t>(P, seqs[b].shared);
        }
    ForwardOut suf;
    if (!with_suffix.empty()) {
        const auto B2 = static_cast<int64_t>(with_suffix.size());
        const int64_t H = c.num_kv_heads, D = c.head_size, L1 = pre.k[0].dim(2);
        std::vector<Tensor> pk, pv;
        for (int i = 0; i < c.num_layers; ++i) {
            for (auto* dst_list : {&pk, &pv}) {
                const Tensor& src = (dst_list == &pk ? pre.k : pre.v)[static_cast<size_t>(i)];
                Tensor t = Tensor::alloc(DType::Float, {B2, H, P, D});
                float* dst = t.mutable_data<float>();
                std::fill(dst, dst + t.numel(), 0.0f);
                for (int64_t j = 0; j < B2; ++j) {
                    const size_t b = with_suffix[static_cast<size_t>(j)];
                    const int64_t pi = static_cast<int64_t>(prefix_of[b]), len = seqs[b].shared;
                    for (int64_t h = 0; h < H; ++h)
                        std::memcpy(dst + ((j * H + h) * P) * D, src.data<float>() + ((pi * H + h) * L1) * D,
                                    static_cast<size_t>(len * D) * sizeof(float));
                }
                dst_list->push_back(std::move(t));
            }
        }
        std::vector<RowInput> rows;
        for (size_t b : with_suffix)
            rows.push_back({seqs[b].ids.data() + seqs[b].shared,
                            static_cast<int64_t>(seqs[b].ids.size()) - seqs[b].shared, int64_t(seqs[b].shared)});
        suf = padded_forward(c, r, rows, &pk, &pv, P, false, cancel);
    }
    std::vector<int64_t> suffix_row(seqs.size(), -1);
    for (size_t j = 0; j < with_suffix.size(); ++j) suffix_row[with_suffix[j]] = static_cast<int64_t>(j);
    for (size_t b = 0; b < seqs.size(); ++b) {
        const auto& s = seqs[b];
        const int64_t n = static_cast<int64_t>(s.ids.size()), first = s.first, shared = s.shared;
        engine::RowMatrix m(n - first, vocab);
        if (first < shared)  // positions of the prefix: from its own row of the first forward
            copy_rows(pre.logits, static_cast<int64_t>(prefix_of[b]), first, shared - first, m.data());
        if (n > shared) {
            const int64_t from = std::max(first, shared);
            copy_rows(suf.logits, suffix_row[b], from - shared, n - from, m.data() + (from - first) * vocab);
        }
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace mixq::eval::onnx
