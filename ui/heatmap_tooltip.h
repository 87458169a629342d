// SPDX-License-Identifier: MIT
// The rich-text tooltip of one heatmap cell: unit, tensor name and shape, KLD / relative error / bits / bytes
// per candidate, and the plan's chosen format with its bytes.
#pragma once
#include <QString>
#include <string>

#include "core/score/score_table.h"
#include "ui/heatmap_grid.h"

namespace mixq::ui {

/// `score` may be null (not scored yet); `current` is the candidate shown in the map, `plan_format` the plan's
/// format for the unit ("" when none). Bytes of a planned format without a score are computed exactly with
/// QuantFormat::storage_bits.
QString heatmap_tooltip(const HeatmapUnit& unit, int col, const score::UnitScore* score, const std::string& current,
                        const std::string& plan_format, int scale_bits, bool pinned = false);

/// "4·g32" for int4-g32, "8·g128" for int8-g128 (bits and group size), "16" for fp16; the text itself when it is
/// not a format name.
QString plan_label(const std::string& format);

}  // namespace mixq::ui
