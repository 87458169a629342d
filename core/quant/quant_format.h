// SPDX-License-Identifier: MIT
// QuantFormat: one storage choice for a weight matrix (int4/int8 block-wise with RTN or k-quant scales, or the
// 16-bit float original), its canonical name ("int4-g32", "int8-g128-sym", "fp16"), and its exact storage cost
// in bits including scales and zero points, as the MatMulNBits layout stores them.
#pragma once
#include <cstdint>
#include <string>

namespace mixq::quant {

enum class Method { RTN, KQuant };

struct QuantFormat {
    int bits = 16;           ///< 4, 8, or 16 (= keep float)
    int block_size = 128;    ///< 16..256, power of two; ignored for 16
    bool symmetric = false;  ///< symmetric: no stored zero point (default zp 2^(bits-1))
    Method method = Method::RTN;

    bool is_float() const { return bits >= 16; }
    bool operator==(const QuantFormat& o) const {
        return bits == o.bits && (is_float() || (block_size == o.block_size && symmetric == o.symmetric && method == o.method));
    }
    bool operator!=(const QuantFormat& o) const { return !(*this == o); }

    /// "int4-g32", "int8-g128-sym", "int4-g128-kquant", "fp16".
    std::string name() const;
    /// Parses the names above ("int4-g32", "int4-g32-sym", "int4-g32-kquant", "int4-g32-sym-kquant", "fp16",
    /// "bf16", "float"); throws mixq::Error for anything else.
    static QuantFormat parse(const std::string& s);
    static QuantFormat float16() { return QuantFormat{}; }

    /// Exact storage of an [N, K] weight in this format, in bits: packed weights (N·k_blocks·block_size·bits,
    /// padding of the last block included, as MatMulNBits stores it), scales (N·k_blocks × scale_bits) and
    /// packed zero points (N·ceil(k_blocks·bits/8) bytes, asymmetric only). Float: N·K·16.
    uint64_t storage_bits(int64_t n, int64_t k, int scale_bits = 16) const;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace mixq::quant
