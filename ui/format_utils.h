// SPDX-License-Identifier: MIT
// Small text formatters shared by the widgets: counts ("1.24 M"), byte sizes ("2.36 MiB"), durations
// ("1:05"), grouped integers ("1,238,656"), yes/no and the memory-mode label.
#pragma once
#include <QString>
#include <cstdint>
#include <string>

namespace mixq::ui {

QString format_count(int64_t n);       ///< 950 -> "950", 1238656 -> "1.24 M", 7.2e9 -> "7.20 B"
QString format_grouped(int64_t n);     ///< 1238656 -> "1,238,656"
QString format_bytes(uint64_t bytes);  ///< 2477312 -> "2.36 MiB"
QString format_duration(double seconds);  ///< 65 -> "1:05", 3725 -> "1:02:05", < 0 -> "--:--"
/// The status bar's memory-mode label for the scorer's choice: "memory: low_memory (auto)" and, as tooltip,
/// the scorer's reason ("memory mode auto-selected: low_memory (free=..., needed=...)").
struct MemoryModeText {
    QString text;
    QString tooltip;
};
MemoryModeText memory_mode_text(const std::string& mode, const std::string& reason);
inline QString yes_no(bool b) { return b ? QStringLiteral("yes") : QStringLiteral("no"); }

}  // namespace mixq::ui
