// SPDX-License-Identifier: MIT
// Element-wise ops with numpy broadcasting: Add, Sub, Mul, Div (float, int64, int32), Sigmoid, Neg, Sqrt, Tanh,
// Pow (float), and Cast between the runner's types (fp16/bf16 targets are rounded and kept in fp32).
#include <cmath>
#include <cstring>

#include "core/common/half.h"
#include "core/eval/onnx/fast_exp.h"
#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {
namespace {

/// Strides of `s` (right-aligned in rank r) with 0 on broadcast dims.
std::vector<int64_t> bstrides(const Shape& s, size_t r) {
    std::vector<int64_t> st(r, 0);
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
        const size_t d = s.size() - 1 - i;
        const size_t o = r - 1 - i;
        st[o] = s[d] == 1 ? 0 : acc;
        acc *= s[d];
    }
    return st;
}

template <class T, class F>
Tensor binary_typed(OpContext& ctx, const Tensor& a, const Tensor& b, DType dt, F f) {
    Shape os;
    if (!broadcast_shape(a.shape(), b.shape(), &os))
        ctx.fail("shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " do not broadcast");
    // The output takes over an input's buffer when the runner donates it (same shape: each element is read at its
    // own index before it is written) instead of a new one; every element is written below.
    Tensor out = ctx.donated(0) && a.shape() == os ? a
                 : ctx.donated(1) && b.shape() == os ? b
                                                     : Tensor::alloc_uninit(dt, os);
    T* o = out.mutable_data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const int64_t n = out.numel();
    if (a.shape() == b.shape()) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
    } else if (b.numel() == 1) {
        const T y = pb[0];
        for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i % std::max<int64_t>(a.numel(), 1)], y);
    } else if (a.numel() == 1) {
        const T x = pa[0];
        for (int64_t i = 0; i < n; ++i) o[i] = f(x, pb[i % std::max<int64_t>(b.numel(), 1)]);
    } else if (n > 0) {
        const size_t r = os.size();
        const auto sa = bstrides(a.shape(), r), sb = bstrides(b.shape(), r);
        std::vector<int64_t> idx(r, 0);
        const int64_t inner = os[r - 1];
        for (int64_t base = 0; base < n; base += inner) {
            int64_t oa = 0, ob = 0;
            for (size_t d = 0; d + 1 < r; ++d) {
                oa += idx[d] * sa[d];
                ob += idx[d] * sb[d];
            }
            for (int64_t j = 0; j < inner; ++j) o[base + j] = f(pa[oa + j * sa[r - 1]], pb[ob + j * sb[r - 1]]);
            for (int64_t d = static_cast<int64_t>(r) - 2; d >= 0; --d) {
                if (++idx[static_cast<size_t>(d)] < os[static_cast<size_t>(d)]) break;
                idx[static_cast<size_t>(d)] = 0;
            }
        }
    }
    return out;
}

template <class Op>
void binary_op(OpContext& ctx, Op op) {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    if (a.dtype() != b.dtype()) ctx.fail("input types differ: " + a.describe() + " and " + b.describe());
    switch (a.dtype()) {
        case DType::Float: ctx.set(0, binary_typed<float>(ctx, a, b, a.dtype(), op)); break;
        case DType::Int64: ctx.set(0, binary_typed<int64_t>(ctx, a, b, a.dtype(), op)); break;
        case DType::Int32: ctx.set(0, binary_typed<int32_t>(ctx, a, b, a.dtype(), op)); break;
        default: ctx.fail(std::string("unsupported input type ") + dtype_name(a.dtype()));
    }
}

template <class F>
void unary_float(OpContext& ctx, F f) {
    const Tensor& x = ctx.in_typed(0, DType::Float, "X");
    Tensor out = ctx.donated(0) ? x : Tensor::alloc_uninit(DType::Float, x.shape());
    const float* p = x.data<float>();
    float* o = out.mutable_data<float>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) o[i] = f(p[i]);
    ctx.set(0, std::move(out));
}

double read_as_double(const Tensor& x, int64_t i) {
    switch (x.dtype()) {
        case DType::Float: return x.data<float>()[i];
        case DType::Int64: return static_cast<double>(x.data<int64_t>()[i]);
        case DType::Int32: return x.data<int32_t>()[i];
        case DType::UInt8:
        case DType::Bool: return x.data<uint8_t>()[i];
        case DType::Int8: return x.data<int8_t>()[i];
        default: return 0.0;
    }
}

void cast_op(OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const int to = static_cast<int>(ctx.node.attr_int("to", 0));
    DType dt;
    if (!dtype_from_onnx(to, &dt) || dt == DType::UInt4 || dt == DType::Int4)
        ctx.fail("cast to ONNX type " + std::to_string(to) + " is not supported");
    if (x.dtype() == DType::UInt4 || x.dtype() == DType::Int4) ctx.fail("cast from 4-bit tensors is not supported");
    if (dt == x.dtype() && to == 1) {
        ctx.set(0, x);
        return;
    }
    Tensor out = Tensor::alloc_uninit(dt, x.shape());
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
        if (x.dtype() == DType::Int64 && dt == DType::Int32) {  // exact integer path (no double round trip)
            out.mutable_data<int32_t>()[i] = static_cast<int32_t>(x.data<int64_t>()[i]);
            continue;
        }
        if (x.dtype() == DType::Int64 && dt == DType::Int64) {
            out.mutable_data<int64_t>()[i] = x.data<int64_t>()[i];
            continue;
        }
        const double v = read_as_double(x, i);
        switch (dt) {
            case DType::Float: {
                float f = static_cast<float>(v);
                if (to == 10) f = f16_to_float(float_to_f16(f));
                if (to == 16) f = bf16_to_float(float_to_bf16(f));
                out.mutable_data<float>()[i] = f;
                break;
            }
            case DType::Int64: out.mutable_data<int64_t>()[i] = static_cast<int64_t>(v); break;
            case DType::Int32: out.mutable_data<int32_t>()[i] = static_cast<int32_t>(v); break;
            case DType::UInt8: out.mutable_data<uint8_t>()[i] = static_cast<uint8_t>(static_cast<int64_t>(v)); break;
            case DType::Int8: out.mutable_data<int8_t>()[i] = static_cast<int8_t>(static_cast<int64_t>(v)); break;
            case DType::Bool: out.mutable_data<uint8_t>()[i] = v != 0.0; break;
            default: break;
        }
    }
    ctx.set(0, std::move(out));
}

}  // namespace

void register_elementwise_ops(OpTable& t) {
    t[op_key("", "Add")] = [](OpContext& c) { binary_op(c, [](auto x, auto y) { return x + y; }); };
    t[op_key("", "Sub")] = [](OpContext& c) { binary_op(c, [](auto x, auto y) { return x - y; }); };
    t[op_key("", "Mul")] = [](OpContext& c) { binary_op(c, [](auto x, auto y) { return x * y; }); };
    t[op_key("", "Div")] = [](OpContext& c) {
        binary_op(c, [](auto x, auto y) {
            using T = decltype(x);
            if constexpr (std::is_integral_v<T>) return y == 0 ? T(0) : static_cast<T>(x / y);
            else return x / y;
        });
    };
    t[op_key("", "Pow")] = [](OpContext& c) {
        if (c.in(0).dtype() != DType::Float || c.in(1).dtype() != DType::Float) c.fail("only float Pow is supported");
        binary_op(c, [](auto x, auto y) { return static_cast<decltype(x)>(std::pow(x, y)); });
    };
    t[op_key("", "Sigmoid")] = [](OpContext& c) {  // vectorized (fast_exp.h), in place when X is donated
        const Tensor& x = c.in_typed(0, DType::Float, "X");
        Tensor out = c.donated(0) ? x : Tensor::alloc_uninit(DType::Float, x.shape());
        sigmoid(x.data<float>(), out.mutable_data<float>(), x.numel());
        c.set(0, std::move(out));
    };
    t[op_key("", "Neg")] = [](OpContext& c) { unary_float(c, [](float x) { return -x; }); };
    t[op_key("", "Sqrt")] = [](OpContext& c) { unary_float(c, [](float x) { return std::sqrt(x); }); };
    t[op_key("", "Tanh")] = [](OpContext& c) { unary_float(c, [](float x) { return std::tanh(x); }); };
    t[op_key("", "Cast")] = cast_op;
}

}  // namespace mixq::eval::onnx
