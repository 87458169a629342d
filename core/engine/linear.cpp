// SPDX-License-Identifier: MIT
// DenseLinear and the x·Wᵀ kernel: rows of W are contiguous, so few-token products are dot products split
// across threads (memory-bandwidth bound); larger batches use Eigen's blocked GEMM.
#include "core/engine/linear.h"

namespace mixq::engine {

void matmul_wt(const RowMatrix& x, const RowMatrix& w, RowMatrix& y) {
    const int64_t T = x.rows(), N = w.rows(), K = w.cols();
    y.resize(T, N);
    if (T <= 4) {
        const float* xp = x.data();
        const float* wp = w.data();
        float* yp = y.data();
#pragma omp parallel for schedule(static) if (N * K > 65536)
        for (int64_t n = 0; n < N; ++n) {
            const Eigen::Map<const Eigen::VectorXf> wr(wp + n * K, K);
            for (int64_t t = 0; t < T; ++t) yp[t * N + n] = wr.dot(Eigen::Map<const Eigen::VectorXf>(xp + t * K, K));
        }
        return;
    }
    y.noalias() = x * w.transpose();
}

void DenseLinear::forward(const RowMatrix& x, RowMatrix& y) const {
    matmul_wt(x, m_w, y);
    if (m_bias) y.rowwise() += m_bias->transpose();
}

}  // namespace mixq::engine
