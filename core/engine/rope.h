// SPDX-License-Identifier: MIT
// Rotary position embedding as Hugging Face computes it (rotate_half layout), with "linear" and "llama3"
// frequency scaling.
#pragma once
#include <vector>

#include "core/engine/tensor.h"
#include "core/io/model_config.h"

namespace mixq::engine {

class Rope {
public:
    explicit Rope(const io::ModelConfig& c);
    /// Inverse frequencies (head_dim/2 values) after scaling, in fp32 as HF stores them.
    const std::vector<float>& inv_freq() const { return m_inv_freq; }
    /// Rotates `n_heads` heads of width head_dim in each row of x [T, n_heads*head_dim], row t at position pos0+t.
    void apply(RowMatrix& x, int n_heads, int pos0) const { apply(x, 0, x.rows(), n_heads, pos0); }
    /// The same on rows [row0, row0 + rows) of x only, row row0 + t at position pos0 + t (one sequence of a
    /// ragged batch, whose rows are concatenated with other sequences').
    void apply(RowMatrix& x, int64_t row0, int64_t rows, int n_heads, int pos0) const;
    /// cos/sin caches [max_pos, head_dim/2] (for export).
    void caches(int max_pos, std::vector<float>& cos, std::vector<float>& sin) const;

private:
    int m_head_dim;
    std::vector<float> m_inv_freq;
};

}  // namespace mixq::engine
