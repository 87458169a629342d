// SPDX-License-Identifier: MIT
// Rope: inverse frequencies (with llama3/linear scaling) and the rotate_half application.
#include "core/engine/rope.h"

#include <cmath>

namespace mixq::engine {

Rope::Rope(const io::ModelConfig& c) : m_head_dim(c.head_dim) {
    const int half = c.head_dim / 2;
    m_inv_freq.resize(half);
    for (int i = 0; i < half; ++i) {
        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)) in fp32
        const float expo = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
        m_inv_freq[i] = 1.0f / std::pow(static_cast<float>(c.rope_theta), expo);
    }
    const auto& rs = c.rope_scaling;
    if (rs.type == "linear") {
        for (auto& f : m_inv_freq) f = f / static_cast<float>(rs.factor);
    } else if (rs.type == "llama3") {
        const double low_wavelen = rs.original_max_position_embeddings / rs.low_freq_factor;
        const double high_wavelen = rs.original_max_position_embeddings / rs.high_freq_factor;
        for (auto& f : m_inv_freq) {
            const double wavelen = 2.0 * M_PI / f;
            double nf = f;
            if (wavelen > low_wavelen) nf = f / rs.factor;
            else if (wavelen >= high_wavelen) {
                const double smooth = (rs.original_max_position_embeddings / wavelen - rs.low_freq_factor) /
                                      (rs.high_freq_factor - rs.low_freq_factor);
                nf = (1.0 - smooth) * f / rs.factor + smooth * f;
            }
            f = static_cast<float>(nf);
        }
    }
}

void Rope::apply(RowMatrix& x, int64_t row0, int64_t rows, int n_heads, int pos0) const {
    const int half = m_head_dim / 2;
    std::vector<float> cs(half), sn(half);
    for (int64_t t = 0; t < rows; ++t) {
        const float pos = static_cast<float>(pos0 + t);
        for (int i = 0; i < half; ++i) {
            const float ang = pos * m_inv_freq[i];  // fp32 product, as HF's freqs
            cs[i] = std::cos(ang);
            sn[i] = std::sin(ang);
        }
        float* row = x.row(row0 + t).data();
        for (int h = 0; h < n_heads; ++h) {
            float* v = row + h * m_head_dim;
            for (int i = 0; i < half; ++i) {
                const float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

void Rope::caches(int max_pos, std::vector<float>& cos, std::vector<float>& sin) const {
    const int half = m_head_dim / 2;
    cos.resize(static_cast<size_t>(max_pos) * half);
    sin.resize(cos.size());
    for (int p = 0; p < max_pos; ++p)
        for (int i = 0; i < half; ++i) {
            const float ang = static_cast<float>(p) * m_inv_freq[i];
            cos[static_cast<size_t>(p) * half + i] = std::cos(ang);
            sin[static_cast<size_t>(p) * half + i] = std::sin(ang);
        }
}

}  // namespace mixq::engine
