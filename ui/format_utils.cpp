// SPDX-License-Identifier: MIT
// Text formatters for counts, bytes and durations.
#include "ui/format_utils.h"

#include <QLocale>
#include <cmath>

namespace mixq::ui {

QString format_count(int64_t n) {
    const double v = static_cast<double>(n);
    if (std::llabs(n) < 1000) return QString::number(n);
    if (std::fabs(v) < 1e6) return QString::number(v / 1e3, 'f', 2) + " K";
    if (std::fabs(v) < 1e9) return QString::number(v / 1e6, 'f', 2) + " M";
    return QString::number(v / 1e9, 'f', 2) + " B";
}

QString format_grouped(int64_t n) { return QLocale(QLocale::English).toString(static_cast<qlonglong>(n)); }

QString format_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    if (u == 0) return QString::number(bytes) + " B";
    return QString::number(v, 'f', 2) + " " + units[u];
}

QString format_duration(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return QStringLiteral("--:--");
    const long long s = std::llround(seconds);
    const long long h = s / 3600, m = (s / 60) % 60, sec = s % 60;
    if (h > 0) return QString::asprintf("%lld:%02lld:%02lld", h, m, sec);
    return QString::asprintf("%lld:%02lld", m, sec);
}

MemoryModeText memory_mode_text(const std::string& mode, const std::string& reason) {
    const QString r = QString::fromStdString(reason);
    QString how;
    if (r.contains("auto-selected"))
        how = QStringLiteral(" (auto)");
    else if (r.contains("requested"))
        how = QStringLiteral(" (requested)");
    return {QStringLiteral("memory: ") + QString::fromStdString(mode) + how, r};
}

}  // namespace mixq::ui
