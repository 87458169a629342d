// SPDX-License-Identifier: MIT
// Plan storage accounting and totals.
#include "core/plan/plan.h"

#include <cstdio>

namespace mixq::plan {

const char* plan_source_name(PlanSource s) {
    switch (s) {
        case PlanSource::Target: return "target";
        case PlanSource::Preset: return "preset";
        case PlanSource::Import: return "import";
    }
    return "?";
}

uint64_t unit_storage_bits(const std::vector<std::vector<int64_t>>& shapes, const quant::QuantFormat& f, int scale_bits) {
    uint64_t b = 0;
    for (const auto& s : shapes) b += f.storage_bits(s[0], s[1], scale_bits);
    return b;
}

uint64_t unit_storage_bytes(const std::vector<std::vector<int64_t>>& shapes, const quant::QuantFormat& f, int scale_bits) {
    uint64_t b = 0;
    for (const auto& s : shapes) b += (f.storage_bits(s[0], s[1], scale_bits) + 7) / 8;
    return b;
}

void finalize_plan(Plan& p) {
    p.total_bits = 0;
    p.total_weights = 0;
    p.predicted_kld = 0.0;
    p.units_without_kld = 0;
    p.int4_units = p.int8_units = p.float_units = 0;
    uint64_t bytes = 0;
    for (auto& u : p.units) {
        u.storage_bits = unit_storage_bits(u.shapes, u.format, p.scale_bits);
        u.bytes = unit_storage_bytes(u.shapes, u.format, p.scale_bits);
        u.weights = 0;
        for (const auto& s : u.shapes) u.weights += s[0] * s[1];
        p.total_bits += u.storage_bits;
        p.total_weights += u.weights;
        bytes += u.bytes;
        if (u.has_kld)
            p.predicted_kld += u.kld;
        else
            ++p.units_without_kld;
        if (u.format.is_float())
            ++p.float_units;
        else if (u.format.bits == 8)
            ++p.int8_units;
        else
            ++p.int4_units;
    }
    p.avg_bits = p.total_weights > 0 ? double(p.total_bits) / double(p.total_weights) : 0.0;
    p.estimated_file_bytes = bytes + 2 * static_cast<uint64_t>(p.non_planned_params);
}

std::string format_bits_ceil(double x) {
    const double up = std::ceil(x * 1e4 - 1e-9) / 1e4;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", up);
    return buf;
}

}  // namespace mixq::plan
