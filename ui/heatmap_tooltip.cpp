// SPDX-License-Identifier: MIT
// Heatmap cell tooltip text and plan labels.
#include "ui/heatmap_tooltip.h"

#include <QStringList>

#include "core/common/error.h"
#include "ui/format_utils.h"

namespace mixq::ui {

namespace {
QString shape_text(const std::vector<int64_t>& s) {
    QStringList parts;
    for (int64_t d : s) parts << QString::number(d);
    return "[" + parts.join(", ") + "]";
}
QString esc(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }
}  // namespace

QString plan_label(const std::string& format) {
    try {
        const quant::QuantFormat f = quant::QuantFormat::parse(format);
        if (f.is_float()) return QString::number(f.bits);
        return QString("%1\u00b7g%2").arg(f.bits).arg(f.block_size);  // bits and group size: "4·g32"
    } catch (const Error&) {
        return QString::fromStdString(format);
    }
}

QString heatmap_tooltip(const HeatmapUnit& u, int col, const score::UnitScore* score, const std::string& current,
                        const std::string& plan_format, int scale_bits, bool pinned) {
    QString html = "<b>" + esc(u.name) + "</b> &nbsp;<span style='color:gray'>(" + io::unit_kind_name(u.kind);
    if (u.layer >= 0) html += ", layer " + QString::number(u.layer);
    html += ")</span><br/>";
    const int m = u.member_for_column(col);
    if (m >= 0 && m < static_cast<int>(u.members.size())) {
        html += "tensor: <tt>" + esc(u.members[m]) + "</tt>";
        if (m < static_cast<int>(u.shapes.size())) html += " " + shape_text(u.shapes[m]);
        html += "<br/>";
    }
    int64_t numel = 0;
    for (const auto& s : u.shapes) numel += s.size() == 2 ? s[0] * s[1] : 0;
    if (u.members.size() > 1)
        html += QString("group of %1 tensors sharing one format, %2 weights<br/>")
                    .arg(u.members.size())
                    .arg(format_grouped(numel));

    if (!score || score->candidates.empty()) {
        html += "<i>not scored yet</i><br/>";
    } else {
        html += "<table cellspacing='0' cellpadding='2'>"
                "<tr><th align='left'>format</th><th align='right'>KLD</th><th align='right'>rel err</th>"
                "<th align='right'>bits/w</th><th align='right'>bytes</th></tr>";
        for (const auto& c : score->candidates) {
            const std::string name = c.format.name();
            const bool bold = name == current;
            const QString b0 = bold ? "<b>" : "", b1 = bold ? "</b>" : "";
            html += "<tr><td>" + b0 + esc(name) + b1 + "</td><td align='right'>" + b0 +
                    QString::number(c.kld, 'g', 3) + b1 + "</td><td align='right'>" + QString::number(c.rel_err, 'g', 3) +
                    "</td><td align='right'>" + QString::number(c.bits_per_weight, 'f', 2) + "</td><td align='right'>" +
                    format_grouped(static_cast<int64_t>(c.bytes)) + "</td></tr>";
        }
        html += "</table>";
    }

    if (!plan_format.empty()) {
        QString bytes_text;
        const score::CandidateScore* chosen = nullptr;
        if (score)
            for (const auto& c : score->candidates)
                if (c.format.name() == plan_format) chosen = &c;
        if (chosen) {
            bytes_text = format_grouped(static_cast<int64_t>(chosen->bytes)) + " bytes";
        } else {
            try {
                const auto f = quant::QuantFormat::parse(plan_format);
                uint64_t bytes = 0;
                for (const auto& s : u.shapes)
                    if (s.size() == 2) bytes += (f.storage_bits(s[0], s[1], scale_bits) + 7) / 8;
                bytes_text = format_grouped(static_cast<int64_t>(bytes)) + " bytes";
            } catch (const Error&) {
                bytes_text = "size unknown";
            }
        }
        html += "plan: <b>" + esc(plan_format) + "</b>" + (pinned ? QString(" (pinned)") : QString()) +
                " &mdash; " + bytes_text;
    } else {
        html += "<span style='color:gray'>no plan yet</span>";
    }
    return html;
}

}  // namespace mixq::ui
