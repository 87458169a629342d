// SPDX-License-Identifier: MIT
// Relative output error of a quantized weight on calibration activations: ||(W − Wq)·Xᵀ|| / ||W·Xᵀ|| (Frobenius),
// directly from X or from its Gram matrix XᵀX (cheaper when many formats are scored on the same inputs).
#pragma once
#include "core/engine/tensor.h"

namespace mixq::quant {

/// ||(W − Wq)·Xᵀ||_F / ||W·Xᵀ||_F for W, Wq [N, K] and activations X [T, K]. Returns 0 when both norms are 0 and
/// +inf when only the denominator is. Throws mixq::Error on mismatched shapes. fp32 GEMMs, norms summed in double.
double rel_err(const engine::RowMatrix& w, const engine::RowMatrix& wq, const engine::RowMatrix& x);

/// XᵀX ([K, K], fp32), for rel_err_gram.
Eigen::MatrixXf gram(const engine::RowMatrix& x);

/// The same ratio from G = XᵀX: sqrt(tr(ΔW G ΔWᵀ) / tr(W G Wᵀ)).
double rel_err_gram(const engine::RowMatrix& w, const engine::RowMatrix& wq, const Eigen::MatrixXf& g);

}  // namespace mixq::quant
