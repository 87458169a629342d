// SPDX-License-Identifier: MIT
// Names and storage accounting of QuantFormat.
#include "core/quant/quant_format.h"

#include <regex>

#include "core/common/error.h"

namespace mixq::quant {

std::string QuantFormat::name() const {
    if (is_float()) return "fp16";
    std::string s = "int" + std::to_string(bits) + "-g" + std::to_string(block_size);
    if (symmetric) s += "-sym";
    if (method == Method::KQuant) s += "-kquant";
    return s;
}

QuantFormat QuantFormat::parse(const std::string& s) {
    if (s == "fp16" || s == "bf16" || s == "float" || s == "f16" || s == "16bit") return float16();
    static const std::regex re(R"(int(4|8)-g(\d+)(-sym)?(-(kquant|rtn))?)");
    std::smatch m;
    if (!std::regex_match(s, m, re))
        fail("", "unknown format '" + s + "' (expected e.g. int4-g32, int8-g128, int4-g128-sym, int4-g64-kquant, fp16)");
    QuantFormat f;
    f.bits = std::stoi(m[1].str());
    f.block_size = std::stoi(m[2].str());
    if (f.block_size < 16 || f.block_size > 256 || (f.block_size & (f.block_size - 1)) != 0)
        fail("", "format '" + s + "': block size must be 16, 32, 64, 128 or 256");
    f.symmetric = m[3].matched;
    f.method = (m[5].matched && m[5].str() == "kquant") ? Method::KQuant : Method::RTN;
    return f;
}

uint64_t QuantFormat::storage_bits(int64_t n, int64_t k, int scale_bits) const {
    if (is_float()) return static_cast<uint64_t>(n) * static_cast<uint64_t>(k) * 16u;
    const int64_t kb = ceil_div(k, block_size);
    uint64_t total = static_cast<uint64_t>(n) * kb * block_size * bits;
    total += static_cast<uint64_t>(n) * kb * scale_bits;
    if (!symmetric) total += static_cast<uint64_t>(n) * ceil_div(kb * bits, 8) * 8;
    return total;
}

}  // namespace mixq::quant
