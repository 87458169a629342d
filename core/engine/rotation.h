// SPDX-License-Identifier: MIT
// QuaRot-style Hadamard rotation folded into the weights so the float model's function is unchanged: every RMSNorm
// weight is folded into the linears that read it, the residual stream is rotated by an orthogonal Q (embedding
// and the o/down outputs write x·Q; q/k/v, gate/up and lm_head read it back), and each attention head's values are
// rotated by a head-size Hadamard that o_proj undoes. The down_proj input is not rotated: SiLU·mul sits in front of
// it, so the rotation cannot be fused there (QuaRot needs an online Hadamard for that). Tied embeddings cannot
// survive the fold of the final norm into the lm_head, so rotation requires untied embeddings.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/engine/tensor.h"
#include "core/io/model.h"
#include "core/engine/hadamard.h"

namespace mixq::engine {

class Rotation {
public:
    /// Throws mixq::Error for models whose embeddings are tied.
    explicit Rotation(std::shared_ptr<const io::Model> model, uint64_t seed = 1);

    /// The rotated, norm-folded form of a weight as stored in the file (`w` is the file's fp32 matrix).
    RowMatrix transform(const std::string& tensor, const RowMatrix& w) const;
    /// The rotated v_proj bias (each head's segment times Qh); other biases are unchanged.
    Vector transform_bias(const std::string& tensor, const Vector& b) const;
    /// Any 1-D tensor in the rotated basis: the norms folded into the linears become ones, the v bias is rotated
    /// (transform_bias), the rest (q/k biases, q/k norms) is unchanged.
    Vector transform_vector(const std::string& tensor, const Vector& v) const;
    uint64_t seed() const { return m_seed; }
    std::string describe() const;  ///< "hadamard(seed=1, residual 128 block 128, heads 32)"

private:
    std::shared_ptr<const io::Model> m_model;
    uint64_t m_seed;
    Hadamard m_residual;
    Hadamard m_head;
    Vector norm(const std::string& name) const;
};

}  // namespace mixq::engine
