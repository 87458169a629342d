// SPDX-License-Identifier: MIT
// The op table (explicit registration, so no op is lost when the static library is linked) and shared helpers.
#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {

const Tensor& OpContext::in(int i) const {
    const Tensor* t = opt(i);
    if (!t) fail("required input " + std::to_string(i) + " is missing");
    return *t;
}

const Tensor& OpContext::in_typed(int i, DType t, const char* what) const {
    const Tensor& x = in(i);
    if (x.dtype() != t)
        fail(std::string(what) + " (input " + std::to_string(i) + ") must be " + dtype_name(t) + ", got " + x.describe());
    return x;
}

const OpTable& op_table() {
    static const OpTable table = [] {
        OpTable t;
        register_elementwise_ops(t);
        register_shape_ops(t);
        register_norm_ops(t);
        register_matmul_ops(t);
        register_attention_ops(t);
        return t;
    }();
    return table;
}

bool broadcast_shape(const Shape& a, const Shape& b, Shape* out) {
    const size_t r = std::max(a.size(), b.size());
    Shape s(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (da != db && da != 1 && db != 1) return false;
        s[i] = da == 1 ? db : da;
    }
    *out = std::move(s);
    return true;
}

int64_t norm_axis(const OpContext& ctx, int64_t axis, int64_t rank) {
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= std::max<int64_t>(rank, 1))
        ctx.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return a;
}

}  // namespace mixq::eval::onnx
