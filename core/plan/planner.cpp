// SPDX-License-Identifier: MIT
// Planner: table validation, per-unit options and costs, pins, frontier build and plan construction.
#include "core/plan/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "core/common/error.h"

namespace mixq::plan {

Pin parse_pin(const std::string& spec) {
    const auto eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        fail("pin '" + spec + "'", "expected NAME=FORMAT, e.g. layers.3.qkv=int8-g128");
    Pin p;
    p.unit = spec.substr(0, eq);
    try {
        p.format = quant::QuantFormat::parse(spec.substr(eq + 1));
    } catch (const Error& e) {
        fail("pin '" + spec + "'", e.what());
    }
    return p;
}

Planner::Planner(const score::ScoreTable& table, PlannerOptions options)
    : m_table(table), m_options(std::move(options)) {
    if (m_table.units.empty()) fail("planner", "the score table has no units");
    if (m_table.scale_bits <= 0 || m_table.scale_bits > 32)
        fail("planner", "scale_bits " + std::to_string(m_table.scale_bits) + " out of range");
    std::set<std::string> seen;
    int max_layer = -1;
    for (const auto& u : m_table.units) {
        const std::string where = "score table unit '" + u.name + "'";
        if (!seen.insert(u.name).second) fail(where, "appears twice");
        if (u.members.empty() || u.members.size() != u.shapes.size()) fail(where, "members and shapes differ in count");
        for (const auto& s : u.shapes)
            if (s.size() != 2 || s[0] <= 0 || s[1] <= 0) fail(where, "shape must be [N, K] with N, K > 0");
        max_layer = std::max(max_layer, u.layer);
        m_total_weights += u.numel();
        std::vector<Option> opts;
        for (const auto& c : u.candidates) {
            if (c.format.is_float()) continue;  // float is added below with KLD 0
            if (!std::isfinite(c.kld) || c.kld < 0) fail(where, c.format.name() + ": kld must be finite and >= 0");
            bool dup = false;
            for (const auto& o : opts) dup |= (o.format == c.format);
            if (dup) continue;
            opts.push_back({c.format, unit_storage_bits(u.shapes, c.format, m_table.scale_bits), c.kld});
        }
        opts.push_back({quant::QuantFormat::float16(), unit_storage_bits(u.shapes, quant::QuantFormat::float16(), 16), 0.0});
        m_unit_options.push_back(std::move(opts));
    }
    m_num_layers = m_options.num_layers >= 0 ? m_options.num_layers : max_layer + 1;
    if (m_options.non_planned_params < 0) fail("planner", "non_planned_params must be >= 0");
    m_names = UnitNames(m_table);
    set_pins(m_options.pins);
}

void Planner::set_pins(std::vector<Pin> pins) {
    std::vector<int> pin_of(m_table.units.size(), -1);
    std::vector<Pin> resolved;
    for (const auto& p : pins) {
        const size_t u = m_names.resolve(p.unit, "pin");
        if (pin_of[u] >= 0) {
            if (resolved[pin_of[u]].format != p.format)
                fail("pin '" + p.unit + "'", "unit " + m_table.units[u].name + " is already pinned to " +
                                                 resolved[pin_of[u]].format.name());
            continue;
        }
        pin_of[u] = static_cast<int>(resolved.size());
        resolved.push_back({m_table.units[u].name, p.format});
    }
    // Table order.
    std::vector<Pin> ordered;
    std::vector<int> order_of(m_table.units.size(), -1);
    for (size_t u = 0; u < m_table.units.size(); ++u)
        if (pin_of[u] >= 0) {
            order_of[u] = static_cast<int>(ordered.size());
            ordered.push_back(resolved[pin_of[u]]);
        }
    // Strong guarantee: a failed rebuild (frontier too large) leaves the previous pins and frontier in place.
    auto old_pins = std::move(m_pins);
    auto old_pin_of = std::move(m_pin_of_unit);
    m_pins = std::move(ordered);
    m_pin_of_unit = std::move(order_of);
    try {
        rebuild();
    } catch (...) {
        m_pins = std::move(old_pins);
        m_pin_of_unit = std::move(old_pin_of);
        if (!m_pin_of_unit.empty()) rebuild();
        throw;
    }
    m_options.pins = m_pins;
}

void Planner::rebuild() {
    const auto t0 = std::chrono::steady_clock::now();
    m_free_units.clear();
    m_pinned_cost = 0;
    m_pinned_kld = 0.0;
    m_pins_kld_complete = true;
    std::vector<std::vector<Choice>> items;
    for (size_t u = 0; u < m_table.units.size(); ++u) {
        const auto& opts = m_unit_options[u];
        if (m_pin_of_unit[u] >= 0) {
            const auto& f = m_pins[m_pin_of_unit[u]].format;
            m_pinned_cost += unit_storage_bits(m_table.units[u].shapes, f, m_table.scale_bits);
            bool known = false;
            for (const auto& o : opts)
                if (o.format == f) {
                    m_pinned_kld += o.kld;
                    known = true;
                    break;
                }
            m_pins_kld_complete &= known;
            continue;
        }
        m_free_units.push_back(u);
        std::vector<Choice> ch;
        for (const auto& o : opts) ch.push_back({o.cost, o.kld});
        items.push_back(std::move(ch));
    }
    m_pareto = ParetoFrontier::build(items, m_options.max_frontier_entries);
    m_frontier.clear();
    m_frontier.reserve(m_pareto.size());
    const double w = double(m_total_weights);
    for (size_t i = 0; i < m_pareto.size(); ++i) {
        const uint64_t bits = m_pareto.costs()[i] + m_pinned_cost;
        m_frontier.push_back({double(bits) / w, m_pareto.klds()[i] + m_pinned_kld, bits});
    }
    m_precompute_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t Planner::budget_bits(double avg_bits) const {
    if (!(avg_bits > 0)) return 0;
    long double b = static_cast<long double>(avg_bits) * static_cast<long double>(m_total_weights);
    b *= 1.0L + 1e-12L;
    if (b >= 1.8e19L) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(std::floor(b));
}

size_t Planner::frontier_index(double avg_bits) const {
    if (!std::isfinite(avg_bits) || avg_bits <= 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", avg_bits);
        fail("planner", std::string("target bits must be a positive number, got ") + buf);
    }
    const uint64_t budget = budget_bits(avg_bits);
    size_t idx = ParetoFrontier::npos;
    if (budget >= m_pinned_cost) idx = m_pareto.best_within(budget - m_pinned_cost);
    if (idx == ParetoFrontier::npos) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", avg_bits);
        fail("planner", std::string("target ") + buf + " bits/weight is below the smallest reachable average, " +
                            format_bits_ceil(min_avg_bits()) + " bits/weight");
    }
    return idx;
}

std::vector<quant::QuantFormat> Planner::formats_at(size_t index) const {
    if (index >= m_pareto.size()) fail("planner", "frontier index " + std::to_string(index) + " out of range");
    thread_local std::vector<int> ch;
    m_pareto.choices(index, ch);
    std::vector<quant::QuantFormat> out(m_table.units.size());
    for (size_t u = 0; u < out.size(); ++u)
        if (m_pin_of_unit[u] >= 0) out[u] = m_pins[m_pin_of_unit[u]].format;
    for (size_t i = 0; i < m_free_units.size(); ++i) {
        const size_t u = m_free_units[i];
        out[u] = m_unit_options[u][ch[i]].format;
    }
    return out;
}

Plan Planner::plan_at(size_t index) const {
    Plan p = make_plan(formats_at(index));
    p.source = PlanSource::Target;
    p.target_bits = m_frontier[index].avg_bits;
    return p;
}

Plan Planner::plan_for_target(double avg_bits) const {
    Plan p = make_plan(formats_at(frontier_index(avg_bits)));
    p.source = PlanSource::Target;
    p.target_bits = avg_bits;
    return p;
}

Plan Planner::plan_preset(Preset preset, const PresetOptions& options) const {
    Plan p = make_plan(preset_formats(preset, m_table, m_num_layers, options));
    p.source = PlanSource::Preset;
    p.preset = preset_name(preset);
    return p;
}

Plan Planner::plan_formats(const std::vector<quant::QuantFormat>& formats, PlanSource source) const {
    if (formats.size() != m_table.units.size())
        fail("planner", "plan_formats needs " + std::to_string(m_table.units.size()) + " formats, got " +
                            std::to_string(formats.size()));
    Plan p = make_plan(formats);
    p.source = source;
    return p;
}

Plan Planner::make_plan(const std::vector<quant::QuantFormat>& formats) const {
    Plan p;
    p.model_path = m_table.model_path;
    p.model_hash = m_table.model_hash;
    p.scale_bits = m_table.scale_bits;
    p.rotation = m_table.rotation;
    p.score_mode = m_table.mode;
    p.non_planned_params = m_options.non_planned_params;
    for (const auto& pin : m_pins) p.pins[pin.unit] = pin.format.name();
    p.units.reserve(m_table.units.size());
    for (size_t u = 0; u < m_table.units.size(); ++u) {
        const auto& su = m_table.units[u];
        PlannedUnit pu;
        pu.name = su.name;
        pu.kind = su.kind;
        pu.layer = su.layer;
        pu.members = su.members;
        pu.shapes = su.shapes;
        pu.pinned = m_pin_of_unit[u] >= 0;
        pu.format = pu.pinned ? m_pins[m_pin_of_unit[u]].format : formats[u];
        pu.has_kld = false;
        for (const auto& o : m_unit_options[u])
            if (o.format == pu.format) {
                pu.kld = o.kld;
                pu.has_kld = true;
                break;
            }
        p.units.push_back(std::move(pu));
    }
    finalize_plan(p);
    return p;
}

}  // namespace mixq::plan
