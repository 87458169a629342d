// SPDX-License-Identifier: MIT
// MLAS CompInt8 activation blocks, emulated in scalar code (see act_quant.h).
#include "core/engine/act_quant.h"

#include <algorithm>
#include <cmath>

namespace mixq::engine {

void fake_quantize_activation_row(const float* x, int64_t k, int64_t block, float* out) {
    for (int64_t b0 = 0; b0 < k; b0 += block) {
        const int64_t n = std::min(block, k - b0);
        float amax = 0.0f;
        for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[b0 + i]));
        const float scale = amax / 127.0f;
        // 127/amax overflows for amax below ~3.7e-37: MLAS's AVX-512 kernel then stores zero codes.
        float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
        if (!std::isfinite(inv)) inv = 0.0f;
        for (int64_t i = 0; i < n; ++i) {
            // nearbyint: round half to even in the default rounding mode, as cvtps2dq does.
            const float q = std::clamp(std::nearbyint(x[b0 + i] * inv), -128.0f, 127.0f);
            out[b0 + i] = q * scale;
        }
    }
}

void fake_quantize_activation_rows(float* x, int64_t rows, int64_t k, int64_t block) {
    for (int64_t r = 0; r < rows; ++r) fake_quantize_activation_row(x + r * k, k, block, x + r * k);
}

}  // namespace mixq::engine
