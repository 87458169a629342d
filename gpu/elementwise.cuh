// SPDX-License-Identifier: MIT
// Launchers of the small element-wise kernels the decoder needs: embedding gather, bias add, dtype conversion,
// the one-token KV-cache append.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// out[r, :] = float(table[ids[r], :]) for r < rows; table [vocab, cols] in table_dt; ids on the device (the
/// caller checks them against the vocabulary); out fp32 [rows, cols].
cudaError_t embed_rows(const void* table, io::DType table_dt, const int* ids, int rows, int cols, float* out,
                       cudaStream_t stream);

/// y[r, c] += bias[c] for `rows` rows of `cols` values starting r·stride apart (y in dt, bias fp32).
cudaError_t add_bias(void* y, io::DType dt, const float* bias, int rows, int cols, int64_t stride, cudaStream_t stream);

/// KV-cache append of one token: `bytes` bytes from src to cache + pos·bytes, pos = *pos_dev when pos_dev is non-null
/// (read at run time, for a replayed CUDA graph), else pos.
cudaError_t kv_store(const void* src, void* cache, int64_t bytes, int pos, const int* pos_dev, cudaStream_t stream);

/// dst[i] = src[i] converted (round to nearest even) for i < n.
cudaError_t convert(const void* src, io::DType src_dt, void* dst, io::DType dst_dt, int64_t n, cudaStream_t stream);

}  // namespace mixq::gpu
