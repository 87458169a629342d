// SPDX-License-Identifier: MIT
// Linear: the one interface every linear layer of the engine goes through (y = x·Wᵀ + b), so scoring, plans
// and backends can substitute quantized or fake-quantized weights per layer. DenseLinear holds fp32 weights.
#pragma once
#include <memory>
#include <optional>

#include "core/engine/tensor.h"

namespace mixq::engine {

class Linear {
public:
    virtual ~Linear() = default;
    virtual int64_t out_features() const = 0;
    virtual int64_t in_features() const = 0;
    /// x: [T, K] -> y: [T, N] (y is resized).
    virtual void forward(const RowMatrix& x, RowMatrix& y) const = 0;
    /// Bytes of weight data this layer streams per forward (for bandwidth estimates).
    virtual uint64_t weight_bytes() const = 0;
};

/// fp32 dense weights W [N, K] (row-major) and an optional bias [N]. With act_block > 0 the input rows are first
/// fake-quantized to int8 in blocks of act_block along K, as ONNX Runtime's MatMulNBits does at accuracy_level 4
/// (act_quant.h), so the engine computes what that node computes.
class DenseLinear final : public Linear {
public:
    explicit DenseLinear(RowMatrix w, std::optional<Vector> bias = std::nullopt, int64_t act_block = 0)
        : m_w(std::move(w)), m_bias(std::move(bias)), m_act_block(act_block) {}
    int64_t out_features() const override { return m_w.rows(); }
    int64_t in_features() const override { return m_w.cols(); }
    void forward(const RowMatrix& x, RowMatrix& y) const override;
    uint64_t weight_bytes() const override { return static_cast<uint64_t>(m_w.size()) * 4; }
    const RowMatrix& weight() const { return m_w; }
    const std::optional<Vector>& bias() const { return m_bias; }

private:
    RowMatrix m_w;
    std::optional<Vector> m_bias;
    int64_t m_act_block = 0;
};

/// y = x·Wᵀ, with x first fake-quantized to int8 blocks of `act_block` when act_block > 0.
void matmul_wt_act(const RowMatrix& x, const RowMatrix& w, RowMatrix& y, int64_t act_block);

/// y = x·Wᵀ for row-major W [N, K]: a threaded GEMV-style kernel for few rows (decode), otherwise Eigen GEMM over
/// 64-row blocks of W in parallel.
void matmul_wt(const RowMatrix& x, const RowMatrix& w, RowMatrix& y);

}  // namespace mixq::engine
