// SPDX-License-Identifier: MIT
// Fast block Walsh–Hadamard rotation with random signs (see hadamard.h): in-place butterflies over rows or columns.
#include "core/engine/hadamard.h"

#include <cmath>
#include <string>

#include "core/common/error.h"

namespace mixq::engine {

namespace {

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/// In-place unnormalized Walsh–Hadamard transform of one length-b vector (natural/Sylvester order).
inline void fwht(float* v, int64_t b) {
    for (int64_t h = 1; h < b; h <<= 1) {
        for (int64_t i = 0; i < b; i += 2 * h) {
            float* a = v + i;
            float* c = v + i + h;
            for (int64_t j = 0; j < h; ++j) {
                const float x = a[j], y = c[j];
                a[j] = x + y;
                c[j] = x - y;
            }
        }
    }
}

}  // namespace

int64_t largest_pow2_divisor(int64_t d) { return d & -d; }

Hadamard::Hadamard(int64_t d, uint64_t seed, int64_t block) : m_d(d), m_block(block), m_seed(seed) {
    if (d < 1) fail("hadamard", "dimension must be >= 1, got " + std::to_string(d));
    if (m_block == 0) m_block = largest_pow2_divisor(d);
    if (m_block < 1 || (m_block & (m_block - 1)) != 0 || d % m_block != 0)
        fail("hadamard", "block " + std::to_string(block) + " is not a power of two dividing " + std::to_string(d));
    m_signs.assign(static_cast<size_t>(d), 1.0f);
    if (seed != 0) {
        uint64_t state = seed;
        for (int64_t i = 0; i < d; i += 64) {
            const uint64_t bits = splitmix64(state);
            for (int64_t j = 0; j < 64 && i + j < d; ++j) m_signs[i + j] = ((bits >> j) & 1u) ? -1.0f : 1.0f;
        }
    }
}

void Hadamard::check_rows(const float* p, int64_t rows) const {
    if (rows < 0 || (rows > 0 && !p)) fail("hadamard", "bad matrix for rotation");
}

void Hadamard::butterfly_rows(float* x, int64_t rows) const {
    const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(m_block)));
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (rows * m_d > (1 << 16))
#endif
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * m_d;
        for (int64_t o = 0; o < m_d; o += m_block) fwht(row + o, m_block);
        for (int64_t c = 0; c < m_d; ++c) row[c] *= norm;
    }
}

void Hadamard::butterfly_left(float* w, int64_t cols) const {
    // The butterfly runs over row indices; each step combines two whole rows (vectorized along cols).
    const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(m_block)));
    for (int64_t o = 0; o < m_d; o += m_block) {
        for (int64_t h = 1; h < m_block; h <<= 1) {
            const int64_t pairs = m_block / 2;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (pairs * cols > (1 << 16))
#endif
            for (int64_t p = 0; p < pairs; ++p) {
                const int64_t i = o + (p / h) * 2 * h + (p % h);
                float* a = w + i * cols;
                float* c = w + (i + h) * cols;
                for (int64_t j = 0; j < cols; ++j) {
                    const float x = a[j], y = c[j];
                    a[j] = x + y;
                    c[j] = x - y;
                }
            }
        }
    }
    for (int64_t i = 0; i < m_d * cols; ++i) w[i] *= norm;
}

void Hadamard::apply_rows(float* x, int64_t rows) const {
    check_rows(x, rows);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < m_d; ++c) x[r * m_d + c] *= m_signs[c];
    butterfly_rows(x, rows);
}

void Hadamard::apply_rows_transpose(float* x, int64_t rows) const {
    check_rows(x, rows);
    butterfly_rows(x, rows);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < m_d; ++c) x[r * m_d + c] *= m_signs[c];
}

void Hadamard::apply_left(float* w, int64_t cols) const {
    check_rows(w, cols);
    butterfly_left(w, cols);
    for (int64_t r = 0; r < m_d; ++r)
        for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= m_signs[r];
}

void Hadamard::apply_left_transpose(float* w, int64_t cols) const {
    check_rows(w, cols);
    for (int64_t r = 0; r < m_d; ++r)
        for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= m_signs[r];
    butterfly_left(w, cols);
}

void Hadamard::apply_rows(RowMatrix& x) const {
    if (x.cols() != m_d)
        fail("hadamard", "matrix has " + std::to_string(x.cols()) + " columns, rotation is " + std::to_string(m_d));
    apply_rows(x.data(), x.rows());
}

void Hadamard::apply_rows_transpose(RowMatrix& x) const {
    if (x.cols() != m_d)
        fail("hadamard", "matrix has " + std::to_string(x.cols()) + " columns, rotation is " + std::to_string(m_d));
    apply_rows_transpose(x.data(), x.rows());
}

RowMatrix Hadamard::dense() const {
    // Row i of Q is e_i·Q.
    RowMatrix q = RowMatrix::Identity(m_d, m_d);
    apply_rows(q.data(), m_d);
    return q;
}

}  // namespace mixq::engine
