// SPDX-License-Identifier: MIT
// Launcher of the fused log-softmax + KL(p_ref ‖ p_q) reduction over the vocabulary: one streaming pass over two
// logits rows with online max / sum rescaling, so neither distribution is ever materialized.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// kl[r] = Σ_j p_j (log p_j − log q_j), p = softmax(ref[r]), q = softmax(cand[r]), for r < rows; rows of `vocab`
/// logits start r·stride apart (stride 0 means vocab) in both inputs (dt: F32, F16 or BF16). One block per row;
/// exponentials in fp32, sums in double; the result is clamped at 0 like score::kl_sum. kl: `rows` doubles on
/// the device.
cudaError_t kl_rows(const void* ref_logits, const void* cand_logits, io::DType dt, int rows, int vocab, int64_t stride,
                    double* kl, cudaStream_t stream);

}  // namespace mixq::gpu
