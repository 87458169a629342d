// SPDX-License-Identifier: MIT
// Non-finite checks inside the computation. Finite weights can still overflow (a huge norm weight or embedding, an
// attention score past float range), and a NaN or Inf must stop the job where it arose instead of flowing into a
// result: check_finite_rows scans an activation or logits matrix (one pass, cheap next to the matmul that made it)
// and throws "<source>: non-finite <what> at <where>, position <p>[ while computing <step>]". NonFiniteStep names
// the step a job is computing on this thread (e.g. the KLD of one unit and format), so a deep check can say so.
#pragma once
#include <cstdint>
#include <string>

#include "core/engine/tensor.h"

namespace mixq::engine {

/// True when none of x[0..n) is a NaN or an Inf (one vectorized pass).
bool all_finite(const float* x, int64_t n);

/// Index of the first row of `m` holding a NaN or an Inf, or -1 when every value is finite.
int64_t first_nonfinite_row(const RowMatrix& m);

/// Throws mixq::Error "<source>: non-finite <what>[ while computing <step>] (the weights are finite: the computation
/// overflowed float range)"; what = e.g. "values in the output of node 'X' (Mul)".
[[noreturn]] void fail_nonfinite(const std::string& source, const std::string& what);

/// Throws mixq::Error "<source>: non-finite <what> at position <pos0 + row>[ (<where>)][ while computing <step>]"
/// when a row of `m` holds a NaN or an Inf. `what` names the values ("logits", "activations"), `where` the place
/// in the model ("layer 3 attention output"; empty for none). Returns at once when every value is finite.
void check_finite_rows(const RowMatrix& m, const std::string& source, const std::string& what, const std::string& where,
                       int64_t pos0 = 0);

/// Throws mixq::Error "<source>: non-finite <what> (<value>)[ while computing <step>]" when v is NaN or Inf; e.g.
/// what = "KLD of unit 'layers.2.mlp.down_proj' as int4-g32". A result (loss, KLD) that would otherwise be written.
void check_finite_value(double v, const std::string& source, const std::string& what);

/// "the KLD of unit 'layers.2.mlp.down_proj' as int4-g32": the step label of scoring one unit in one format.
std::string kld_step(const std::string& unit, const std::string& format);

/// While alive, messages of check_finite_rows on this thread end with " while computing <step>" (innermost wins).
class NonFiniteStep {
public:
    explicit NonFiniteStep(std::string step);
    ~NonFiniteStep();
    NonFiniteStep(const NonFiniteStep&) = delete;
    NonFiniteStep& operator=(const NonFiniteStep&) = delete;

private:
    std::string m_previous;
};

}  // namespace mixq::engine
