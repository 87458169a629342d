// SPDX-License-Identifier: MIT
// Host side of the CUDA decoder's weights: the byte layout of one decoder layer's image (fused q|k|v and gate|up
// linears, each dense in the weight dtype or quantized in the MatMulNBits layout, plus fp32 biases) and the
// writer that fills an image from the CPU engine's fp32 LayerWeights. The same image is uploaded once (full,
// multi_gpu) or streamed from pinned memory (low_memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/engine/tensor.h"
#include "core/engine/transformer.h"
#include "core/io/dtype.h"
#include "core/io/model_config.h"
#include "core/quant/quant_format.h"

namespace mixq::gpu {

/// One linear [n, k] inside an image. Offsets are bytes from the image start, each 256-byte aligned.
struct LinearSlot {
    int64_t n = 0, k = 0;
    bool quantized = false;
    quant::QuantFormat format;           ///< when quantized
    io::DType dtype = io::DType::BF16;   ///< dense: weight dtype; quantized: scale dtype
    size_t weight_off = 0, weight_bytes = 0;  ///< dense [n, k] or packed [n, k_blocks, blob]
    size_t scale_off = 0, scale_bytes = 0;    ///< quantized: [n, k_blocks] in dtype
    size_t zp_off = 0, zp_bytes = 0;          ///< quantized asymmetric: [n, zp_row_bytes]
    size_t bias_off = 0;
    bool has_bias = false;                    ///< n fp32 values at bias_off
    /// Bytes a forward pass reads for the weight (weights + scales + zero points).
    uint64_t read_bytes() const { return weight_bytes + scale_bytes + zp_bytes; }
};

/// Places a linear at `offset` (advanced past it). `quant`: nullopt = dense in weight_dt; otherwise the
/// quantized format (4/8 bits) with scales in scale_dt.
LinearSlot make_linear_slot(int64_t n, int64_t k, bool has_bias, const std::optional<quant::QuantFormat>& quant,
                            io::DType weight_dt, io::DType scale_dt, size_t& offset);

/// The image of one decoder layer: qkv [q_dim + 2·kv_dim, hidden] (rows q, then k, then v), o [hidden, q_dim],
/// gate_up [2·intermediate, hidden] (rows gate, then up), down [hidden, intermediate].
struct LayerLayout {
    LinearSlot qkv, o, gate_up, down;
    size_t bytes = 0;
    uint64_t read_bytes() const { return qkv.read_bytes() + o.read_bytes() + gate_up.read_bytes() + down.read_bytes(); }
};

LayerLayout make_layer_layout(const io::ModelConfig& c, bool qkv_bias, const std::optional<quant::QuantFormat>& quant,
                              io::DType weight_dt, io::DType scale_dt);

/// Formats of one layer's linears (nullopt = dense in the weight dtype), e.g. from a mixed-precision plan.
struct LayerFormats {
    std::optional<quant::QuantFormat> qkv, o, gate_up, down;
};
LayerLayout make_layer_layout(const io::ModelConfig& c, bool qkv_bias, const LayerFormats& formats,
                              io::DType weight_dt, io::DType scale_dt);

/// Writes w ([s.n, s.k] fp32 row-major) and bias (s.n values or null) into the slot of the image at `base`:
/// converted to the dtype (round to nearest even) or quantized with quant::quantize (bitwise the CPU layout).
void write_linear(const float* w, const float* bias, const LinearSlot& s, uint8_t* base);

/// Fills a layer image (L.bytes bytes at dst) from the engine's fp32 layer weights (which must be DenseLinear).
void write_layer_image(const engine::LayerWeights& w, const LayerLayout& L, uint8_t* dst);

/// The weight of a slot as fp32 [n, k] (dense: widened; quantized: dequantized) and its bias (empty when none).
engine::RowMatrix read_linear(const LinearSlot& s, const uint8_t* base, engine::Vector* bias = nullptr);

}  // namespace mixq::gpu
