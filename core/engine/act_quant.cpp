// SPDX-License-Identifier: MIT
// MLAS CompInt8 activation blocks, emulated in scalar code (see act_quant.h).
#include "core/engine/act_quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mixq::engine {

namespace {
/// One block's scale and codes (n <= block values); returns the scale.
float quantize_block(const float* x, int64_t n, int8_t* codes) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
    // 127/amax overflows for amax below ~3.7e-37: MLAS's AVX-512 kernel then stores zero codes.
    float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
    if (!std::isfinite(inv)) inv = 0.0f;
    // nearbyint: round half to even in the default rounding mode, as cvtps2dq does.
    for (int64_t i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inv), -128.0f, 127.0f));
    return amax / 127.0f;
}
}  // namespace

void fake_quantize_activation_row(const float* x, int64_t k, int64_t block, float* out) {
    std::vector<int8_t> codes(static_cast<size_t>(block));
    for (int64_t b0 = 0; b0 < k; b0 += block) {
        const int64_t n = std::min(block, k - b0);
        const float scale = quantize_block(x + b0, n, codes.data());
        for (int64_t i = 0; i < n; ++i) out[b0 + i] = static_cast<float>(codes[static_cast<size_t>(i)]) * scale;
    }
}

void quantize_activation_row(const float* x, int64_t k, int64_t block, int8_t* codes, float* scales, int32_t* sums) {
    const int64_t kb = (k + block - 1) / block;
    for (int64_t b = 0; b < kb; ++b) {
        const int64_t n = std::min(block, k - b * block);
        int8_t* c = codes + b * block;
        scales[b] = quantize_block(x + b * block, n, c);
        std::fill(c + n, c + block, int8_t(0));  // a partial last block is zero-padded, as MLAS pads it
        int32_t sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += c[i];
        sums[b] = sum;
    }
}

void fake_quantize_activation_rows(float* x, int64_t rows, int64_t k, int64_t block) {
    for (int64_t r = 0; r < rows; ++r) fake_quantize_activation_row(x + r * k, k, block, x + r * k);
}

}  // namespace mixq::engine
