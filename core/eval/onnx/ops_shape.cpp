// SPDX-License-Identifier: MIT
// Data-movement and shape ops: Constant, Identity, Shape, Reshape, Transpose, Gather, Expand, Squeeze, Unsqueeze,
// Concat, Split, Slice, ReduceSum (axes as input or attribute, so opsets before and after 13 both work). Outputs
// that every element of is written come uninitialized from the pool (no memset).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {
namespace {

size_t elem_size(const OpContext& ctx, const Tensor& t) {
    if (t.dtype() == DType::UInt4 || t.dtype() == DType::Int4)
        ctx.fail(std::string("4-bit tensors are not supported by this op (") + t.describe() + ")");
    return dtype_bytes(t.dtype(), 1);
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i)
        st[static_cast<size_t>(i)] = st[static_cast<size_t>(i + 1)] * s[static_cast<size_t>(i + 1)];
    return st;
}

/// Copies out[i] = in[offset(i)] where offset is given by per-output-dim input strides (an index map).
void strided_gather(const uint8_t* in, uint8_t* out, const Shape& os, const std::vector<int64_t>& in_strides,
                    int64_t in_base, size_t es) {
    const int64_t n = shape_numel(os);
    if (n == 0) return;
    const size_t r = os.size();
    if (r == 0) {
        std::memcpy(out, in + in_base * es, es);
        return;
    }
    std::vector<int64_t> idx(r, 0);
    int64_t off = in_base;
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(out + static_cast<size_t>(i) * es, in + static_cast<size_t>(off) * es, es);
        for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
            const auto du = static_cast<size_t>(d);
            off += in_strides[du];
            if (++idx[du] < os[du]) break;
            off -= in_strides[du] * os[du];
            idx[du] = 0;
        }
    }
}

std::vector<int64_t> axes_of(const OpContext& ctx, int input) {
    if (const Tensor* a = ctx.opt(input)) return a->to_i64();
    return ctx.node.attr_ints("axes");
}

void constant_op(OpContext& ctx) {
    const Node& n = ctx.node;
    if (n.has("value")) {
        ctx.set(0, n.attrs.at("value").t);
    } else if (n.has("value_int")) {
        ctx.set(0, Tensor::scalar_i64(n.attrs.at("value_int").i));
    } else if (n.has("value_ints")) {
        const auto& v = n.attrs.at("value_ints").ints;
        ctx.set(0, Tensor::from_i64({static_cast<int64_t>(v.size())}, v));
    } else if (n.has("value_float")) {
        ctx.set(0, Tensor::from_floats({}, {n.attrs.at("value_float").f}));
    } else if (n.has("value_floats")) {
        const auto& v = n.attrs.at("value_floats").floats;
        ctx.set(0, Tensor::from_floats({static_cast<int64_t>(v.size())}, v));
    } else {
        ctx.fail("Constant without a supported value attribute");
    }
}

void shape_op(OpContext& ctx) {
    const Shape& s = ctx.in(0).shape();
    const auto r = static_cast<int64_t>(s.size());
    int64_t start = ctx.node.attr_int("start", 0), end = ctx.node.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    std::vector<int64_t> v;
    for (int64_t i = start; i < end; ++i) v.push_back(s[static_cast<size_t>(i)]);
    ctx.set(0, Tensor::from_i64({static_cast<int64_t>(v.size())}, v));
}

void reshape_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto spec = ctx.in(1).to_i64();
    const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
    Shape s(spec.size());
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < spec.size(); ++i) {
        int64_t d = spec[i];
        if (d == 0 && !allowzero) {
            if (i >= x.shape().size()) ctx.fail("shape " + shape_str(spec) + " copies dim " + std::to_string(i) + " of " + x.describe());
            d = x.shape()[i];
        }
        if (d == -1) {
            if (infer >= 0) ctx.fail("shape " + shape_str(spec) + " has two -1 dims");
            infer = static_cast<int>(i);
            continue;
        }
        if (d < 0) ctx.fail("invalid shape " + shape_str(spec));
        if (d != 0 && known > kMaxNumel / d) ctx.fail("shape " + shape_str(spec) + " has too many elements");
        s[i] = d;
        known *= d;
    }
    if (infer >= 0) {
        if (known == 0 || x.numel() % known != 0) ctx.fail("cannot reshape " + x.describe() + " to " + shape_str(spec));
        s[static_cast<size_t>(infer)] = x.numel() / known;
    }
    if (shape_numel(s) != x.numel()) ctx.fail("cannot reshape " + x.describe() + " to " + shape_str(spec));
    ctx.set(0, x.reshaped(s));
}

void transpose_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t es = elem_size(ctx, x);
    const auto r = static_cast<size_t>(x.rank());
    auto perm = ctx.node.attr_ints("perm");
    if (perm.empty()) {
        perm.resize(r);
        for (size_t i = 0; i < r; ++i) perm[i] = static_cast<int64_t>(r - 1 - i);
    }
    if (perm.size() != r) ctx.fail("perm " + shape_str(perm) + " does not match " + x.describe());
    const auto xs = contiguous_strides(x.shape());
    Shape os(r);
    std::vector<int64_t> st(r);
    std::vector<bool> seen(r, false);
    for (size_t i = 0; i < r; ++i) {
        const int64_t p = perm[i];
        if (p < 0 || p >= static_cast<int64_t>(r) || seen[static_cast<size_t>(p)]) ctx.fail("invalid perm " + shape_str(perm));
        seen[static_cast<size_t>(p)] = true;
        os[i] = x.shape()[static_cast<size_t>(p)];
        st[i] = xs[static_cast<size_t>(p)];
    }
    Tensor out = Tensor::alloc_uninit(x.dtype(), os);
    strided_gather(x.bytes(), out.mutable_data<uint8_t>(), os, st, 0, es);
    ctx.set(0, std::move(out));
}

void gather_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const Tensor& idx_t = ctx.in(1);
    if (idx_t.dtype() != DType::Int64 && idx_t.dtype() != DType::Int32)
        ctx.fail("indices must be int64 or int32, got " + idx_t.describe());
    const size_t es = elem_size(ctx, x);
    if (x.rank() == 0) ctx.fail("cannot gather from a scalar");
    const int64_t axis = norm_axis(ctx, ctx.node.attr_int("axis", 0), x.rank());
    const auto idx = idx_t.to_i64();
    const auto& xs = x.shape();
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= xs[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(axis) + 1; i < xs.size(); ++i) inner *= xs[i];
    const int64_t dim = xs[static_cast<size_t>(axis)];
    Shape os(xs.begin(), xs.begin() + axis);
    os.insert(os.end(), idx_t.shape().begin(), idx_t.shape().end());
    os.insert(os.end(), xs.begin() + axis + 1, xs.end());
    Tensor out = Tensor::alloc_uninit(x.dtype(), os);
    uint8_t* o = out.mutable_data<uint8_t>();
    const size_t chunk = static_cast<size_t>(inner) * es;
    for (int64_t a = 0; a < outer; ++a)
        for (size_t j = 0; j < idx.size(); ++j) {
            int64_t k = idx[j];
            if (k < 0) k += dim;
            if (k < 0 || k >= dim)
                ctx.fail("index " + std::to_string(idx[j]) + " out of range for axis of size " + std::to_string(dim));
            std::memcpy(o + (static_cast<size_t>(a) * idx.size() + j) * chunk,
                        x.bytes() + (static_cast<size_t>(a * dim + k)) * chunk, chunk);
        }
    ctx.set(0, std::move(out));
}

void expand_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t es = elem_size(ctx, x);
    Shape os;
    if (!broadcast_shape(x.shape(), ctx.in(1).to_i64(), &os))
        ctx.fail("cannot expand " + x.describe() + " to " + shape_str(ctx.in(1).to_i64()));
    const auto xs = contiguous_strides(x.shape());
    std::vector<int64_t> st(os.size(), 0);
    for (size_t i = 0; i < x.shape().size(); ++i) {
        const size_t o = os.size() - x.shape().size() + i;
        st[o] = x.shape()[i] == 1 ? 0 : xs[i];
    }
    Tensor out = Tensor::alloc_uninit(x.dtype(), os);
    strided_gather(x.bytes(), out.mutable_data<uint8_t>(), os, st, 0, es);
    ctx.set(0, std::move(out));
}

void squeeze_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    auto axes = axes_of(ctx, 1);
    std::vector<bool> drop(x.shape().size(), false);
    if (axes.empty()) {
        for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.shape()[i] == 1;
    } else {
        for (auto a : axes) {
            const auto k = static_cast<size_t>(norm_axis(ctx, a, x.rank()));
            if (x.shape()[k] != 1) ctx.fail("cannot squeeze axis " + std::to_string(a) + " of " + x.describe());
            drop[k] = true;
        }
    }
    Shape os;
    for (size_t i = 0; i < drop.size(); ++i)
        if (!drop[i]) os.push_back(x.shape()[i]);
    ctx.set(0, x.reshaped(os));
}

void unsqueeze_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto axes = axes_of(ctx, 1);
    const int64_t r = x.rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> ins(static_cast<size_t>(r), false);
    for (auto a : axes) {
        const auto k = static_cast<size_t>(norm_axis(ctx, a, r));
        if (ins[k]) ctx.fail("repeated axis in Unsqueeze");
        ins[k] = true;
    }
    Shape os;
    size_t j = 0;
    for (int64_t i = 0; i < r; ++i) os.push_back(ins[static_cast<size_t>(i)] ? 1 : x.shape()[j++]);
    ctx.set(0, x.reshaped(os));
}

void concat_op(OpContext& ctx) {
    const Tensor& first = ctx.in(0);
    const size_t es = elem_size(ctx, first);
    const int64_t axis = norm_axis(ctx, ctx.node.attr_int("axis", 0), first.rank());
    Shape os = first.shape();
    os[static_cast<size_t>(axis)] = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
        const Tensor& t = ctx.in(i);
        if (t.dtype() != first.dtype() || t.rank() != first.rank()) ctx.fail("inputs differ in type or rank");
        for (int64_t d = 0; d < t.rank(); ++d)
            if (d != axis && t.dim(d) != first.dim(d))
                ctx.fail("input shapes " + shape_str(first.shape()) + " and " + shape_str(t.shape()) + " differ off the axis");
        os[static_cast<size_t>(axis)] += t.dim(axis);
    }
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= os[static_cast<size_t>(i)];
    for (size_t i = static_cast<size_t>(axis) + 1; i < os.size(); ++i) inner *= os[i];
    Tensor out = Tensor::alloc_uninit(first.dtype(), os);
    uint8_t* o = out.mutable_data<uint8_t>();
    const size_t out_row = static_cast<size_t>(os[static_cast<size_t>(axis)] * inner) * es;
    size_t col = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
        const Tensor& t = ctx.in(i);
        const size_t row = static_cast<size_t>(t.dim(axis) * inner) * es;
        for (int64_t a = 0; a < outer; ++a)
            std::memcpy(o + static_cast<size_t>(a) * out_row + col, t.bytes() + static_cast<size_t>(a) * row, row);
        col += row;
    }
    ctx.set(0, std::move(out));
}

void split_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t es = elem_size(ctx, x);
    const int64_t axis = norm_axis(ctx, ctx.node.attr_int("axis", 0), x.rank());
    const int64_t dim = x.dim(axis);
    const auto n_out = static_cast<int64_t>(ctx.node.outputs.size());
    std::vector<int64_t> sizes = ctx.opt(1) ? ctx.opt(1)->to_i64() : ctx.node.attr_ints("split");
    if (sizes.empty()) {
        const int64_t k = ctx.node.attr_int("num_outputs", n_out);
        const int64_t each = (dim + k - 1) / k;
        for (int64_t i = 0; i < k; ++i) sizes.push_back(std::max<int64_t>(0, std::min(each, dim - i * each)));
    }
    if (static_cast<int64_t>(sizes.size()) != n_out) ctx.fail("split sizes do not match the number of outputs");
    if (std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != dim)
        ctx.fail("split sizes " + shape_str(sizes) + " do not sum to dim " + std::to_string(dim) + " of " + x.describe());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(i);
    for (int64_t i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
    int64_t start = 0;
    for (int64_t k = 0; k < n_out; ++k) {
        Shape os = x.shape();
        os[static_cast<size_t>(axis)] = sizes[static_cast<size_t>(k)];
        Tensor out = Tensor::alloc_uninit(x.dtype(), os);
        const size_t row = static_cast<size_t>(sizes[static_cast<size_t>(k)] * inner) * es;
        for (int64_t a = 0; a < outer; ++a)
            std::memcpy(out.mutable_data<uint8_t>() + static_cast<size_t>(a) * row,
                        x.bytes() + (static_cast<size_t>(a * dim + start) * static_cast<size_t>(inner)) * es, row);
        start += sizes[static_cast<size_t>(k)];
        ctx.set(static_cast<int>(k), std::move(out));
    }
}

void slice_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t es = elem_size(ctx, x);
    const auto starts = ctx.in(1).to_i64();
    const auto ends = ctx.in(2).to_i64();
    std::vector<int64_t> axes = ctx.opt(3) ? ctx.opt(3)->to_i64() : std::vector<int64_t>{};
    std::vector<int64_t> steps = ctx.opt(4) ? ctx.opt(4)->to_i64() : std::vector<int64_t>{};
    if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        ctx.fail("starts/ends/axes/steps lengths differ");
    const auto r = static_cast<size_t>(x.rank());
    std::vector<int64_t> st(r, 0), step(r, 1);
    Shape os = x.shape();
    for (size_t i = 0; i < starts.size(); ++i) {
        const auto a = static_cast<size_t>(norm_axis(ctx, axes[i], x.rank()));
        const int64_t d = x.shape()[a];
        const int64_t s = steps[i];
        if (s == 0) ctx.fail("slice step 0");
        int64_t b = starts[i] < 0 ? starts[i] + d : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + d : ends[i];
        if (s > 0) {
            b = std::clamp<int64_t>(b, 0, d);
            e = std::clamp<int64_t>(e, 0, d);
            os[a] = e > b ? (e - b + s - 1) / s : 0;
        } else {
            b = std::clamp<int64_t>(b, 0, d - 1);
            e = std::clamp<int64_t>(e, -1, d - 1);
            os[a] = b > e ? (b - e + (-s) - 1) / (-s) : 0;
        }
        st[a] = b;
        step[a] = s;
    }
    const auto xs = contiguous_strides(x.shape());
    int64_t base = 0;
    std::vector<int64_t> strides(r);
    for (size_t a = 0; a < r; ++a) {
        base += st[a] * xs[a];
        strides[a] = step[a] * xs[a];
    }
    Tensor out = Tensor::alloc_uninit(x.dtype(), os);
    strided_gather(x.bytes(), out.mutable_data<uint8_t>(), os, strides, base, es);
    ctx.set(0, std::move(out));
}

template <class T>
void reduce_sum_typed(const Tensor& x, const std::vector<bool>& red, Tensor& out) {
    const auto r = x.shape().size();
    // Output strides in the input index space (0 on reduced dims).
    Shape kept;
    for (size_t i = 0; i < r; ++i) kept.push_back(red[i] ? 1 : x.shape()[i]);
    const auto ks = contiguous_strides(kept);
    T* o = out.mutable_data<T>();
    const T* p = x.data<T>();
    const int64_t n = x.numel();
    std::vector<int64_t> idx(r, 0);
    for (int64_t i = 0; i < n; ++i) {
        int64_t oi = 0;
        for (size_t d = 0; d < r; ++d)
            if (!red[d]) oi += idx[d] * ks[d];
        o[oi] += p[i];
        for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
            if (++idx[static_cast<size_t>(d)] < x.shape()[static_cast<size_t>(d)]) break;
            idx[static_cast<size_t>(d)] = 0;
        }
    }
}

void reduce_sum_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto axes = axes_of(ctx, 1);
    const bool keep = ctx.node.attr_int("keepdims", 1) != 0;
    const bool noop = ctx.node.attr_int("noop_with_empty_axes", 0) != 0;
    if (axes.empty() && noop) {
        ctx.set(0, x);
        return;
    }
    const auto r = static_cast<size_t>(x.rank());
    std::vector<bool> red(r, axes.empty());
    for (auto a : axes) red[static_cast<size_t>(norm_axis(ctx, a, x.rank()))] = true;
    Shape os;
    for (size_t i = 0; i < r; ++i) {
        if (!red[i]) os.push_back(x.shape()[i]);
        else if (keep) os.push_back(1);
    }
    Tensor out = Tensor::alloc(x.dtype(), os);
    switch (x.dtype()) {
        case DType::Float: reduce_sum_typed<float>(x, red, out); break;
        case DType::Int64: reduce_sum_typed<int64_t>(x, red, out); break;
        case DType::Int32: reduce_sum_typed<int32_t>(x, red, out); break;
        default: ctx.fail(std::string("unsupported input type ") + dtype_name(x.dtype()));
    }
    ctx.set(0, std::move(out));
}

}  // namespace

void register_shape_ops(OpTable& t) {
    t[op_key("", "Constant")] = constant_op;
    t[op_key("", "Identity")] = [](OpContext& c) { c.set(0, c.in(0)); };
    t[op_key("", "Shape")] = shape_op;
    t[op_key("", "Reshape")] = reshape_op;
    t[op_key("", "Transpose")] = transpose_op;
    t[op_key("", "Gather")] = gather_op;
    t[op_key("", "Expand")] = expand_op;
    t[op_key("", "Squeeze")] = squeeze_op;
    t[op_key("", "Unsqueeze")] = unsqueeze_op;
    t[op_key("", "Concat")] = concat_op;
    t[op_key("", "Split")] = split_op;
    t[op_key("", "Slice")] = slice_op;
    t[op_key("", "ReduceSum")] = reduce_sum_op;
}

}  // namespace mixq::eval::onnx
