// SPDX-License-Identifier: MIT
// check_finite_rows and the per-thread step label (see finite_check.h).
#include "core/engine/finite_check.h"

#include <cmath>
#include <cstring>

#include "core/common/error.h"

namespace mixq::engine {
namespace {
thread_local std::string t_step;  // the step NonFiniteStep names on this thread ("" for none)

}  // namespace

/// NaN and ±Inf are the floats whose exponent bits are all ones. An integer OR reduction, so the compiler
/// vectorizes it (a float reduction would need -ffast-math).
bool all_finite(const float* x, int64_t n) {
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bad |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
    }
    return bad == 0;
}

int64_t first_nonfinite_row(const RowMatrix& m) {
    if (all_finite(m.data(), m.size())) return -1;
    for (int64_t t = 0; t < m.rows(); ++t)
        if (!all_finite(m.row(t).data(), m.cols())) return t;
    return -1;
}

void check_finite_rows(const RowMatrix& m, const std::string& source, const std::string& what, const std::string& where,
                       int64_t pos0) {
    const int64_t row = first_nonfinite_row(m);
    if (row < 0) return;
    fail_nonfinite(source, what + " at " + (where.empty() ? "" : where + ", ") + "position " + std::to_string(pos0 + row));
}

void fail_nonfinite(const std::string& source, const std::string& what) {
    std::string msg = "non-finite " + what;
    if (!t_step.empty()) msg += " while computing " + t_step;
    fail(source, msg + " (the weights are finite: the computation overflowed float range)");
}

void check_finite_value(double v, const std::string& source, const std::string& what) {
    if (std::isfinite(v)) return;
    std::string msg = "non-finite " + what + " (" + (std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") + ")";
    if (!t_step.empty()) msg += " while computing " + t_step;
    fail(source, msg);
}

std::string kld_step(const std::string& unit, const std::string& format) {
    return "the KLD of unit '" + unit + "' as " + format;
}

NonFiniteStep::NonFiniteStep(std::string step) : m_previous(std::move(t_step)) { t_step = std::move(step); }
NonFiniteStep::~NonFiniteStep() { t_step = std::move(m_previous); }

}  // namespace mixq::engine
