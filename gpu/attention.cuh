// SPDX-License-Identifier: MIT
// Launchers of the attention kernels: causal GQA prefill (tiled, flash-style online softmax, never materializing
// the [T, T] scores) and single-token decode against a KV cache (GQA-aware: one block reads each K/V row once for
// all query heads of its group, split over the sequence with a combine pass). fp32 softmax and accumulation;
// scores are (q·k)·scale with scale = 1/sqrt(head_dim), as the CPU engine computes them.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/io/dtype.h"

namespace mixq::gpu {

/// Largest head_dim the kernels support.
constexpr int kMaxAttentionHeadDim = 256;

/// Prefill: `tokens` queries at positions pos0 .. pos0+tokens−1; query t sees keys 0 .. pos0+t.
///  q:   [tokens rows, q_stride], query head h at column h·head_dim;
///  k/v: [pos0+tokens rows, kv_stride], kv head g at column g·head_dim (k and v may interleave in one buffer);
///  out: [tokens rows, out_stride], head h at column h·head_dim.
/// Query head h reads kv head h / (n_heads / n_kv_heads). All tensors in dt. head_dim ≤ 256, n_heads a multiple of
/// n_kv_heads.
cudaError_t attention_prefill(const void* q, int64_t q_stride, const void* k, const void* v, int64_t kv_stride,
                              void* out, int64_t out_stride, int tokens, int pos0, int n_heads, int n_kv_heads,
                              int head_dim, io::DType dt, cudaStream_t stream);

/// Floats of workspace attention_decode uses for up to `max_splits` sequence splits.
size_t attention_decode_workspace_floats(int n_heads, int head_dim, int max_splits = 64);

/// Decode: one query token at position `pos` (keys 0 .. pos). q: n_heads·head_dim values (head h at h·head_dim);
/// k/v rows as for prefill; out: n_heads·head_dim values. `workspace` (device, `workspace_floats` floats, see
/// attention_decode_workspace_floats) holds the partial results of the sequence splits; null means one split.
/// pos_dev (device int, or null): read pos at run time from there instead, with the sequence splits planned for any
/// position up to `pos` (then the largest position the replays will see): a captured CUDA graph replays it.
cudaError_t attention_decode(const void* q, const void* k, const void* v, int64_t kv_stride, void* out, int pos,
                             int n_heads, int n_kv_heads, int head_dim, io::DType dt, float* workspace,
                             size_t workspace_floats, cudaStream_t stream, const int* pos_dev = nullptr);

}  // namespace mixq::gpu
