// SPDX-License-Identifier: MIT
// OnnxModel::logits_batch: several fresh sequences as one forward of the export's graph. Rows are right-padded to
// the longest; attention_mask marks each row's real tokens, so the graph's mask subgraph gives GroupQueryAttention
// seqlens_k = length - 1 per row and total_sequence_length = the padded length (a first prompt, as ONNX Runtime
// accepts it): every real position attends only to its own row's earlier real positions, and padding never
// reaches a real position's logits. Only the logits are requested (the present KV tensors are freed early).
#include <algorithm>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_model.h"

namespace mixq::eval::onnx {

std::vector<engine::RowMatrix> OnnxModel::logits_batch(const std::vector<engine::BatchSeq>& seqs,
                                                       const CancelToken& cancel) {
    const auto& c = m_cfg;
    const auto& r = *m_runner;
    const std::string& label = r.graph().label;
    const auto B = static_cast<int64_t>(seqs.size());
    if (B == 0) return {};
    int64_t T = 0;
    for (const auto& s : seqs) {
        const auto n = static_cast<int64_t>(s.ids.size());
        if (n == 0) fail(label, "a batched sequence needs at least one token");
        if (s.first < 0 || s.first >= n)
            fail(label, "logits wanted from position " + std::to_string(s.first) + " of a " + std::to_string(n) +
                            "-token sequence");
        if (n > c.context_length)
            fail(label, "sequence of " + std::to_string(n) + " tokens exceeds the context length " +
                            std::to_string(c.context_length));
        T = std::max(T, n);
    }
    auto length_of = [&](int64_t b) { return static_cast<int64_t>(seqs[static_cast<size_t>(b)].ids.size()); };
    std::map<std::string, Tensor> in;
    // An int32 or int64 [B, T] input (whichever the graph declares) with value_at(row, position).
    auto index_input = [&](const std::string& name, auto value_at) {
        const ValueInfo* vi = r.input_info(name);
        const bool i32 = vi && vi->elem_type == 6;
        Tensor t = Tensor::alloc(i32 ? DType::Int32 : DType::Int64, {B, T});
        for (int64_t b = 0; b < B; ++b)
            for (int64_t p = 0; p < T; ++p) {
                const int64_t v = value_at(b, p);
                if (i32) t.mutable_data<int32_t>()[b * T + p] = static_cast<int32_t>(v);
                else t.mutable_data<int64_t>()[b * T + p] = v;
            }
        in[name] = std::move(t);
    };
    // Padding positions hold token 0 (any valid id: their results are never read).
    index_input(c.input_ids, [&](int64_t b, int64_t p) {
        return p < length_of(b) ? static_cast<int64_t>(seqs[static_cast<size_t>(b)].ids[static_cast<size_t>(p)]) : 0;
    });
    if (r.has_input(c.attention_mask))
        index_input(c.attention_mask, [&](int64_t b, int64_t p) { return int64_t(p < length_of(b) ? 1 : 0); });
    else if (std::any_of(seqs.begin(), seqs.end(), [&](const engine::BatchSeq& s) { return static_cast<int64_t>(s.ids.size()) != T; }))
        fail(label, "the graph has no '" + c.attention_mask + "' input, so sequences of different lengths cannot share a forward");
    if (r.has_input(c.position_ids)) index_input(c.position_ids, [](int64_t, int64_t p) { return p; });
    const Tensor empty_past = Tensor::alloc(DType::Float, {B, c.num_kv_heads, 0, c.head_size});
    for (int i = 0; i < c.num_layers; ++i) {
        in[layer_input_name(c.past_key_names, i)] = empty_past;
        in[layer_input_name(c.past_value_names, i)] = empty_past;
    }
    auto res = r.run(in, {c.logits}, &cancel);
    const Tensor& lg = res[c.logits];
    if (lg.dtype() != DType::Float || lg.rank() != 3 || lg.dim(0) != B || lg.dim(1) != T || lg.dim(2) != c.vocab_size)
        fail(label, "output '" + c.logits + "' is " + lg.describe() + ", expected float32[" + std::to_string(B) + "," +
                        std::to_string(T) + "," + std::to_string(c.vocab_size) + "] (per-position logits of every row)");
    std::vector<engine::RowMatrix> out;
    out.reserve(seqs.size());
    const float* base = lg.data<float>();
    for (int64_t b = 0; b < B; ++b) {
        const auto& s = seqs[static_cast<size_t>(b)];
        const int64_t rows = length_of(b) - s.first;
        engine::RowMatrix m(rows, c.vocab_size);
        const float* src = base + (b * T + s.first) * c.vocab_size;
        std::copy(src, src + rows * c.vocab_size, m.data());
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace mixq::eval::onnx
