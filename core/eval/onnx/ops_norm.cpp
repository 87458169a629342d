// SPDX-License-Identifier: MIT
// RMS norms: SimplifiedLayerNormalization and RMSNormalization (ai.onnx domain), SkipSimplifiedLayerNormalization
// (com.microsoft; outputs Y and the residual sum input+skip(+bias)). y = x / sqrt(mean(x²) + eps) · scale.
#include <cmath>

#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {
namespace {

/// Normalizes rows of length h: y = x * rsqrt(mean(x^2)+eps) * g; optional inv_std per row.
void rms_rows(const float* x, const float* g, float* y, float* inv_std, int64_t rows, int64_t h, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * h;
        // Sum of squares in double (as before) over 8 independent lanes, so it vectorizes.
        double lane[8] = {};
        int64_t j = 0;
        for (; j + 8 <= h; j += 8)
            for (int l = 0; l < 8; ++l) lane[l] += static_cast<double>(xr[j + l]) * xr[j + l];
        double ss = 0.0;
        for (; j < h; ++j) ss += static_cast<double>(xr[j]) * xr[j];
        for (double v : lane) ss += v;
        const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(h)) + eps);
        if (inv_std) inv_std[r] = inv;
        float* yr = y + r * h;
        for (int64_t k = 0; k < h; ++k) yr[k] = xr[k] * inv * g[k];
    }
}

void simplified_ln(OpContext& ctx) {
    const Tensor& x = ctx.in_typed(0, DType::Float, "X");
    const Tensor& g = ctx.in_typed(1, DType::Float, "scale");
    if (x.rank() == 0) ctx.fail("X must have rank >= 1");
    const int64_t axis = norm_axis(ctx, ctx.node.attr_int("axis", -1), x.rank());
    const float eps = ctx.node.attr_float("epsilon", 1e-5f);
    int64_t h = 1;
    for (int64_t i = axis; i < x.rank(); ++i) h *= x.dim(i);
    if (g.numel() != h) ctx.fail("scale " + g.describe() + " does not match the normalized size " + std::to_string(h) + " of " + x.describe());
    const int64_t rows = h ? x.numel() / h : 0;
    // Y in X's buffer when the runner donates it: a row is read in full (sum of squares) before it is written.
    Tensor y = ctx.donated(0) ? x : Tensor::alloc_uninit(DType::Float, x.shape());
    Shape ss(x.shape().begin(), x.shape().begin() + axis);
    for (int64_t i = axis; i < x.rank(); ++i) ss.push_back(1);
    Tensor inv = Tensor::alloc_uninit(DType::Float, ss);
    rms_rows(x.data<float>(), g.data<float>(), y.mutable_data<float>(), inv.mutable_data<float>(), rows, h, eps);
    ctx.set(0, std::move(y));
    ctx.set(1, std::move(inv));
}

void skip_simplified_ln(OpContext& ctx) {
    const Tensor& x = ctx.in_typed(0, DType::Float, "input");
    const Tensor& skip = ctx.in_typed(1, DType::Float, "skip");
    const Tensor& g = ctx.in_typed(2, DType::Float, "gamma");
    const Tensor* bias = ctx.opt(3);
    if (x.rank() < 1) ctx.fail("input must have rank >= 1");
    const int64_t h = x.dim(-1);
    if (g.numel() != h) ctx.fail("gamma " + g.describe() + " does not match hidden size " + std::to_string(h));
    if (bias && (bias->dtype() != DType::Float || bias->numel() != h)) ctx.fail("bias " + bias->describe() + " does not match hidden size");
    // skip: same shape as input, or broadcast over the leading (batch) dims ([S, H] / [1, S, H]).
    if (skip.numel() == 0 || x.numel() % skip.numel() != 0 || skip.dim(-1) != h)
        ctx.fail("skip " + skip.describe() + " does not match input " + x.describe());
    const int64_t rows = x.numel() / h;
    // The residual sum goes into input's buffer and Y into skip's when the runner donates them (each element is read
    // before its own index is written; skip is dead once the sum is formed); otherwise new, uninitialized buffers.
    const bool skip_full = skip.shape() == x.shape();
    Tensor sum = ctx.donated(0) ? x : ctx.donated(1) && skip_full ? skip : Tensor::alloc_uninit(DType::Float, x.shape());
    float* s = sum.mutable_data<float>();
    const float* px = x.data<float>();
    const float* ps = skip.data<float>();
    const int64_t sn = skip.numel(), n = x.numel();
    if (sn == n)
        for (int64_t i = 0; i < n; ++i) s[i] = px[i] + ps[i];
    else
        for (int64_t i = 0; i < n; ++i) s[i] = px[i] + ps[i % sn];
    if (bias)
        for (int64_t i = 0; i < n; ++i) s[i] += bias->data<float>()[i % h];
    Tensor y = ctx.donated(1) && skip_full && skip.bytes() != sum.bytes() ? skip : Tensor::alloc_uninit(DType::Float, x.shape());
    Shape ss(x.shape().begin(), x.shape().end() - 1);
    ss.push_back(1);
    Tensor inv = Tensor::alloc_uninit(DType::Float, ss);
    rms_rows(s, g.data<float>(), y.mutable_data<float>(), inv.mutable_data<float>(), rows, h,
             ctx.node.attr_float("epsilon", 1e-5f));
    ctx.set(0, std::move(y));
    if (ctx.wants(1)) ctx.set(1, Tensor::alloc(DType::Float, ss));  // mean: not computed by the simplified norm
    ctx.set(2, std::move(inv));
    ctx.set(3, std::move(sum));
}

}  // namespace

void register_norm_ops(OpTable& t) {
    t[op_key("", "SimplifiedLayerNormalization")] = simplified_ln;
    t[op_key("", "RMSNormalization")] = simplified_ln;
    t[op_key("com.microsoft", "SkipSimplifiedLayerNormalization")] = skip_simplified_ln;
}

}  // namespace mixq::eval::onnx
