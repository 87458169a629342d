// SPDX-License-Identifier: MIT
// HeatmapGrid: where each quantization unit sits in the sensitivity heatmap. Rows are decoder layers (0 at the
// top) plus one last row for embeddings / lm_head; columns are q, k, v, o, gate, up, down. A unit covers a span
// of columns in its row (qkv: q..v, gate_up: gate..up, embed: q..o, lm_head: gate..down, tied: all).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/io/model_layout.h"

namespace mixq::ui {

enum HeatmapColumn { ColQ = 0, ColK, ColV, ColO, ColGate, ColUp, ColDown };
inline constexpr int kHeatmapColumns = 7;
const char* heatmap_column_name(int col);  ///< "q", "k", "v", "o", "gate", "up", "down"

struct HeatmapUnit {
    std::string name;
    io::UnitKind kind = io::UnitKind::QKV;
    int layer = -1;
    std::vector<std::string> members;          ///< tensor names
    std::vector<std::vector<int64_t>> shapes;  ///< [N, K] per member
    int col_begin = 0;                         ///< first column (inclusive)
    int col_end = 0;                           ///< last column (inclusive)

    bool model_level() const {
        return kind == io::UnitKind::Embedding || kind == io::UnitKind::LmHead || kind == io::UnitKind::TiedEmbedding;
    }
    int span() const { return col_end - col_begin + 1; }
    /// The member drawn in a column: one member per column when the unit has as many members as columns
    /// (q/k/v, gate/up), else the first (packed qkv_proj, fused gate_up_proj, embeddings).
    int member_for_column(int col) const;
};

/// Column span of a unit kind.
void heatmap_columns(io::UnitKind kind, int& col_begin, int& col_end);
/// Builds a unit from the layout (members and shapes included).
HeatmapUnit heatmap_unit(const io::QuantUnit& u);
HeatmapUnit heatmap_unit(const std::string& name, io::UnitKind kind, int layer, std::vector<std::string> members,
                         std::vector<std::vector<int64_t>> shapes);

class HeatmapGrid {
public:
    void reset(int num_layers);
    /// Adds a unit or replaces the one with the same name; grows the layer rows when its layer lies beyond
    /// them. Returns true when the row count changed.
    bool upsert(HeatmapUnit u);

    int layers() const { return m_layers; }
    int rows() const { return m_layers + 1; }
    int model_row() const { return m_layers; }  ///< the embeddings / lm_head row
    int row_of(const HeatmapUnit& u) const { return u.model_level() ? m_layers : u.layer; }

    const std::vector<HeatmapUnit>& units() const { return m_units; }
    const HeatmapUnit* find(const std::string& name) const;
    const HeatmapUnit* unit_at(int row, int col) const;

private:
    int m_layers = 0;
    std::vector<HeatmapUnit> m_units;
};

}  // namespace mixq::ui
