// SPDX-License-Identifier: MIT
// Eigen matrix types the CPU engine uses: row-major fp32 activations [tokens, features] and weights [N, K].
#pragma once
#include <Eigen/Dense>

namespace mixq::engine {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

}  // namespace mixq::engine
