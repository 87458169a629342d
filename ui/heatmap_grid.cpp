// SPDX-License-Identifier: MIT
// HeatmapGrid: unit placement in rows/columns of the sensitivity heatmap.
#include "ui/heatmap_grid.h"

#include <algorithm>

namespace mixq::ui {

const char* heatmap_column_name(int col) {
    static const char* names[] = {"q", "k", "v", "o", "gate", "up", "down"};
    return col >= 0 && col < kHeatmapColumns ? names[col] : "?";
}

void heatmap_columns(io::UnitKind kind, int& b, int& e) {
    switch (kind) {
    case io::UnitKind::QKV: b = ColQ, e = ColV; break;
    case io::UnitKind::O: b = e = ColO; break;
    case io::UnitKind::GateUp: b = ColGate, e = ColUp; break;
    case io::UnitKind::Down: b = e = ColDown; break;
    case io::UnitKind::Embedding: b = ColQ, e = ColO; break;
    case io::UnitKind::LmHead: b = ColGate, e = ColDown; break;
    case io::UnitKind::TiedEmbedding: b = ColQ, e = ColDown; break;
    }
}

int HeatmapUnit::member_for_column(int col) const {
    if (members.empty()) return -1;
    if (static_cast<int>(members.size()) == span() && col >= col_begin && col <= col_end) return col - col_begin;
    return 0;
}

HeatmapUnit heatmap_unit(const std::string& name, io::UnitKind kind, int layer, std::vector<std::string> members,
                         std::vector<std::vector<int64_t>> shapes) {
    HeatmapUnit u;
    u.name = name;
    u.kind = kind;
    u.layer = layer;
    u.members = std::move(members);
    u.shapes = std::move(shapes);
    heatmap_columns(kind, u.col_begin, u.col_end);
    return u;
}

HeatmapUnit heatmap_unit(const io::QuantUnit& q) {
    std::vector<std::string> members;
    std::vector<std::vector<int64_t>> shapes;
    for (const auto& m : q.members) {
        members.push_back(m.name);
        shapes.push_back({m.out_features, m.in_features});
    }
    return heatmap_unit(q.name, q.kind, q.layer, std::move(members), std::move(shapes));
}

void HeatmapGrid::reset(int num_layers) {
    m_layers = std::max(0, num_layers);
    m_units.clear();
}

bool HeatmapGrid::upsert(HeatmapUnit u) {
    bool grew = false;
    if (!u.model_level() && u.layer >= m_layers) {
        m_layers = u.layer + 1;
        grew = true;
    }
    for (auto& existing : m_units) {
        if (existing.name == u.name) {
            // Keep the layout's members/shapes when the newcomer (e.g. a score) carries none.
            if (u.members.empty()) {
                u.members = existing.members;
                u.shapes = existing.shapes;
            }
            existing = std::move(u);
            return grew;
        }
    }
    m_units.push_back(std::move(u));
    return grew;
}

const HeatmapUnit* HeatmapGrid::find(const std::string& name) const {
    for (const auto& u : m_units)
        if (u.name == name) return &u;
    return nullptr;
}

const HeatmapUnit* HeatmapGrid::unit_at(int row, int col) const {
    if (row < 0 || row >= rows() || col < 0 || col >= kHeatmapColumns) return nullptr;
    for (const auto& u : m_units)
        if (row_of(u) == row && col >= u.col_begin && col <= u.col_end) return &u;
    return nullptr;
}

}  // namespace mixq::ui
