// SPDX-License-Identifier: MIT
// DenseLinear and the x·Wᵀ kernel: rows of W are contiguous, so few-token products are dot products split
// across threads (memory-bandwidth bound); larger batches run Eigen's GEMM on 64-row blocks of W in parallel.
#include "core/engine/linear.h"

#include <algorithm>

#include "core/engine/act_quant.h"

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
    // Column blocks of y (row blocks of W) in parallel: each product packs only its kRows rows of W, so the packed
    // panel stays in cache and no W-sized buffer is allocated per call. One Eigen product over the whole W packs all
    // of it (for an lm_head, 32000 x 512 fp32 = 64 MB written and page-faulted in every call) before computing.
    // Block boundaries are fixed and each block's product runs on one thread (Eigen does not nest its own threads
    // inside a parallel region), so results do not depend on the thread count. No `if` clause: a serial region would
    // let Eigen start nested threads (and spin-wait on them) for every block.
    constexpr int64_t kRows = 64;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < N; b += kRows) {
        const int64_t nb = std::min(kRows, N - b);
        y.middleCols(b, nb).noalias() = x * w.middleRows(b, nb).transpose();
    }
}

void matmul_wt_act(const RowMatrix& x, const RowMatrix& w, RowMatrix& y, int64_t act_block) {
    if (act_block <= 0) return matmul_wt(x, w, y);
    RowMatrix xq = x;
    fake_quantize_activation_rows(xq.data(), xq.rows(), xq.cols(), act_block);
    matmul_wt(xq, w, y);
}

void DenseLinear::forward(const RowMatrix& x, RowMatrix& y) const {
    matmul_wt_act(x, m_w, y, m_act_block);
    if (m_bias) y.rowwise() += m_bias->transpose();
}

}  // namespace mixq::engine
