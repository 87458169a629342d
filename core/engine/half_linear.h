// SPDX-License-Identifier: MIT
// HalfLinear: a linear layer computing from BF16 / F16 weights as they are stored in the model file (memory-mapped,
// never widened as a whole): few-row products convert and multiply in registers, larger ones convert 64-row panels
// of W to fp32 in a per-thread buffer for the GEMM. A BF16 model then needs its file size in memory, not twice it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>

#include "core/engine/linear.h"
#include "core/io/dtype.h"

namespace mixq::engine {

class HalfLinear final : public Linear {
public:
    /// W [n, k] row-major at `w` (2-byte elements of `dtype`, BF16 or F16). `keep_alive` owns the memory `w` points
    /// into (the model's mapped file).
    HalfLinear(const uint16_t* w, int64_t n, int64_t k, io::DType dtype, std::shared_ptr<const void> keep_alive,
               std::optional<Vector> bias = std::nullopt, int64_t act_block = 0);
    int64_t out_features() const override { return m_n; }
    int64_t in_features() const override { return m_k; }
    void forward(const RowMatrix& x, RowMatrix& y) const override;
    uint64_t weight_bytes() const override { return static_cast<uint64_t>(m_n * m_k) * 2; }
    io::DType dtype() const { return m_dtype; }
    /// The weights widened to fp32 (a copy; for tests and callers that need the matrix itself, e.g. the scorer's
    /// unit under test).
    RowMatrix to_f32() const;
    const std::optional<Vector>& bias() const { return m_bias; }

private:
    const uint16_t* m_w;
    int64_t m_n, m_k;
    io::DType m_dtype;
    std::shared_ptr<const void> m_keep_alive;
    std::optional<Vector> m_bias;
    int64_t m_act_block;
};

/// y = x·Wᵀ for W [n, k] of 16-bit `dtype` at `w` (the kernel behind HalfLinear and the engine's lm_head).
void matmul_wt_half(const RowMatrix& x, const uint16_t* w, int64_t n, int64_t k, io::DType dtype, RowMatrix& y);

/// Rows `ids` of a 16-bit table [rows, k] widened to fp32 (the embedding lookup); ids are checked by the caller.
RowMatrix gather_rows_half(const uint16_t* table, int64_t k, io::DType dtype, const std::vector<int>& ids);

}  // namespace mixq::engine
