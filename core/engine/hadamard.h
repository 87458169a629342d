// SPDX-License-Identifier: MIT
// QuaRot-style orthogonal rotation Q = diag(s)·blockdiag(H_b/√b, …, H_b/√b) of size d: Sylvester Walsh–Hadamard
// blocks H_b[i,j] = (−1)^popcount(i&j) with b = the largest power of two dividing d (or a given power of two), and
// a ±1 sign vector s drawn deterministically from a seed. Applied with a fast butterfly in O(d·log b) per vector.
#pragma once
#include <cstdint>
#include <vector>

#include "core/engine/tensor.h"

namespace mixq::engine {

class Hadamard {
public:
    /// d ≥ 1. block = 0 picks the largest power of two dividing d; otherwise block must be a power of two dividing d.
    /// seed = 0 gives all signs +1 (a plain block Hadamard); any other seed gives splitmix64-derived ±1 signs.
    explicit Hadamard(int64_t d, uint64_t seed = 0, int64_t block = 0);

    int64_t dim() const { return m_d; }
    int64_t block() const { return m_block; }
    uint64_t seed() const { return m_seed; }
    /// The diagonal s (±1), length d.
    const std::vector<float>& signs() const { return m_signs; }

    /// Each row x of the row-major [rows, d] matrix becomes x·Q (= (x ⊙ s)·H).
    void apply_rows(float* x, int64_t rows) const;
    /// Each row x becomes x·Qᵀ (= (x·H) ⊙ s).
    void apply_rows_transpose(float* x, int64_t rows) const;
    /// The row-major [d, cols] matrix W becomes Q·W.
    void apply_left(float* w, int64_t cols) const;
    /// The row-major [d, cols] matrix W becomes Qᵀ·W.
    void apply_left_transpose(float* w, int64_t cols) const;

    void apply_rows(RowMatrix& x) const;
    void apply_rows_transpose(RowMatrix& x) const;
    /// The explicit [d, d] matrix Q (for tests and small sizes).
    RowMatrix dense() const;

private:
    void butterfly_rows(float* x, int64_t rows) const;
    void butterfly_left(float* w, int64_t cols) const;
    void check_rows(const float* p, int64_t rows) const;

    int64_t m_d;
    int64_t m_block;
    uint64_t m_seed;
    std::vector<float> m_signs;
};

/// Largest power of two dividing d (d ≥ 1).
int64_t largest_pow2_divisor(int64_t d);

}  // namespace mixq::engine
