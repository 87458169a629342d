// SPDX-License-Identifier: MIT
// A MatMulNBits weight repacked once (at its first use) for the int8 kernel's broadcast-activation tiles: the N
// output columns in panels of 16; per panel and quant block the codes in groups of 64 bytes that one vpdpbusd takes
// as they are (byte 4c + j: column c, the block's k = 4g + j for 8-bit codes; for 4-bit codes the low nibble holds
// k = 8g + j and the high one k = 8g + 4 + j, so one load and a nibble split give two such vectors), then the 16
// columns' fp32 scales (blocks stay 64-byte aligned); zero points (with a zero-point input) one byte per column
// and block in a separate run per panel. The codes take the file's bytes again (no int8 copy of 4-bit codes), the
// scales 4 bytes per column and block, zero points 1 (decode streams them all per token, so they are kept small).
// Kept on the graph node (Node::op_cache), so it lives and dies with the model.
#pragma once
#include <cstdint>
#include <memory>

#include "core/eval/onnx/nbits_kernel.h"
#include "core/eval/onnx/onnx_tensor.h"

namespace mixq::eval::onnx {

struct Node;

struct NBitsPacked {
    int64_t n = 0, k = 0, k_blocks = 0, block_size = 0;
    int bits = 4;
    bool has_zp = false;       ///< per-block zero points stored (else every block's is zp_default)
    float zp_default = 8.0f;
    int64_t panels = 0;        ///< ceil(n / 16); columns past n are zero codes and zero scales
    int64_t code_bytes = 0;    ///< per panel and block: 16 · block_size · bits / 8
    int64_t block_bytes = 0;   ///< code_bytes + 64 (scales)
    int64_t panel_bytes = 0;   ///< k_blocks · block_bytes
    int64_t zp_offset = 0;     ///< where the zero points start: [panels, k_blocks, 16] bytes
    std::unique_ptr<uint8_t, void (*)(void*)> data{nullptr, nullptr};  ///< 64-byte aligned, panels · panel_bytes

    const uint8_t* zero_points(int64_t panel) const { return data.get() + zp_offset + panel * k_blocks * 16; }
    size_t bytes() const { return static_cast<size_t>(zp_offset + (has_zp ? panels * k_blocks * 16 : 0)); }
};

/// Repacks `w` (4- or 8-bit codes, block_size a multiple of 16, integer or no zero points).
std::shared_ptr<const NBitsPacked> nbits_prepack(const NBitsMatrix& w);

/// The node's packed weight for these input tensors, made on first use and kept on the node; made again (and
/// replaced) when the node's B, scales or zero points are other tensors than last time. The cache holds those
/// tensors, so their buffers cannot be reused under it while it is kept.
std::shared_ptr<const NBitsPacked> nbits_prepacked_for(const Node& node, const NBitsMatrix& w, const Tensor& b,
                                                       const Tensor& scales, const Tensor* zero_points);

}  // namespace mixq::eval::onnx
