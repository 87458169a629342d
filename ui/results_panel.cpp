// SPDX-License-Identifier: MIT
// ResultsPanel: table of evaluated models with deltas to the baseline, and the accuracy charts.
#include "ui/results_panel.h"

#include <QHeaderView>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>
#include <limits>

#include "qcustomplot.h"

namespace mixq::ui {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double num(const nlohmann::json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return kNaN;
    return j[key].get<double>();
}

QString fmt(int col, double v) {
    if (std::isnan(v)) return "\u2013";
    switch (col) {
        case ResultsPanel::AvgBits: return QString::number(v, 'f', 3);
        case ResultsPanel::Size: return QString::number(v / 1e6, 'f', 2) + " MB";
        case ResultsPanel::Ppl: return QString::number(v, 'f', 3);
        case ResultsPanel::Prefill:
        case ResultsPanel::Decode: return QString::number(v, 'f', 1);
        default: return QString::number(v, 'f', 4);
    }
}

/// The accuracy a chart shows: MMLU when measured, else PIQA acc.
double headline_acc(const ResultRow& r) { return std::isnan(r.metrics[0]) ? r.metrics[1] : r.metrics[0]; }

void setup_plot(QCustomPlot* p, const QString& x, const QString& name) {
    p->setObjectName(name);
    p->xAxis->setLabel(x);
    p->yAxis->setLabel(QObject::tr("accuracy (MMLU, else PIQA)"));
    p->setMinimumHeight(160);
}

}  // namespace

ResultsPanel::ResultsPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("resultsPanel");
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    auto* split = new QSplitter(Qt::Horizontal, this);
    lay->addWidget(split);
    m_table = new QTableWidget(0, ColumnCount);
    m_table->setObjectName("resultsTable");
    m_table->setHorizontalHeaderLabels({tr("Model"), tr("Avg bits"), tr("Size"), tr("MMLU"), tr("PIQA acc"),
                                        tr("PIQA acc_norm"), tr("Perplexity"), tr("Prefill tok/s"), tr("Decode tok/s")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    split->addWidget(m_table);
    m_tabs = new QTabWidget;
    m_tabs->setObjectName("resultsCharts");
    m_speedPlot = new QCustomPlot;
    setup_plot(m_speedPlot, tr("decode tokens/s"), "accuracyVsSpeed");
    m_bitsPlot = new QCustomPlot;
    setup_plot(m_bitsPlot, tr("average bits/weight"), "accuracyVsBits");
    m_tabs->addTab(m_speedPlot, tr("Accuracy vs speed"));
    m_tabs->addTab(m_bitsPlot, tr("Accuracy vs bits"));
    split->addWidget(m_tabs);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
}

ResultRow ResultsPanel::row_from_report(const nlohmann::json& report, const char* side, const QString& label,
                                        const QString& kind, double avg_bits, double size_bytes) {
    ResultRow r;
    r.label = label;
    r.kind = kind;
    r.avg_bits = avg_bits;
    r.size_bytes = size_bytes;
    const nlohmann::json empty;
    auto task = [&](const char* name) -> const nlohmann::json& {
        if (!report.contains("tasks") || !report["tasks"].contains(name)) return empty;
        const auto& t = report["tasks"][name];
        return t.contains(side) ? t[side] : empty;
    };
    r.metrics[0] = num(task("mmlu"), "acc");
    r.metrics[1] = num(task("piqa"), "acc");
    r.metrics[2] = num(task("piqa"), "acc_norm");
    r.metrics[3] = num(task("ppl"), "ppl");
    r.metrics[4] = num(task("speed"), "prefill_tokens_per_s");
    r.metrics[5] = num(task("speed"), "decode_tokens_per_s");
    const auto& speed = task("speed");
    if (speed.is_object() && speed.contains("runtime") && speed["runtime"].is_string())
        r.speed_runtime = QString::fromStdString(speed["runtime"].get<std::string>());
    return r;
}

void ResultsPanel::addRow(const ResultRow& row) {
    if (row.kind == "baseline") {
        if (!m_rows.empty() && m_rows.front().kind == "baseline")
            m_rows.front() = row;
        else
            m_rows.insert(m_rows.begin(), row);
    } else {
        m_rows.push_back(row);
    }
    refresh();
    emit rowsChanged();
}

void ResultsPanel::clear() {
    m_rows.clear();
    refresh();
    emit rowsChanged();
}

int ResultsPanel::rowCount() const { return static_cast<int>(m_rows.size()); }

void ResultsPanel::refresh() {
    m_table->setRowCount(rowCount());
    const ResultRow* base = !m_rows.empty() && m_rows.front().kind == "baseline" ? &m_rows.front() : nullptr;
    auto value = [](const ResultRow& r, int col) {
        if (col == AvgBits) return r.avg_bits;
        if (col == Size) return r.size_bytes;
        return r.metrics[col - Mmlu];
    };
    for (int i = 0; i < rowCount(); ++i) {
        const ResultRow& r = m_rows[i];
        auto* name = new QTableWidgetItem(r.label);
        name->setToolTip(r.kind);
        m_table->setItem(i, Model, name);
        for (int c = AvgBits; c < ColumnCount; ++c) {
            const double v = value(r, c);
            const bool speed = c == Prefill || c == Decode;
            // Speeds compare only when one runtime measured both (an engine row against an ONNX Runtime row would
            // credit or blame quantization for the difference between two programs).
            const bool comparable = !speed || (base && base->speed_runtime == r.speed_runtime);
            const double d = base && base != &r && comparable ? v - value(*base, c) : kNaN;
            QString text = fmt(c, v);
            if (!std::isnan(d)) text += QString(" (%1%2)").arg(d >= 0 ? "+" : "").arg(fmt(c, d));
            auto* item = new QTableWidgetItem(text);
            item->setData(kValueRole, v);
            item->setData(kDeltaRole, d);
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (speed && !std::isnan(v))
                item->setToolTip(tr("measured by %1%2")
                                     .arg(r.speed_runtime.isEmpty() ? tr("an unrecorded runtime") : r.speed_runtime)
                                     .arg(base && base != &r && !comparable
                                              ? tr("; no delta: the baseline was measured by %1")
                                                    .arg(base->speed_runtime.isEmpty() ? tr("an unrecorded runtime")
                                                                                       : base->speed_runtime)
                                              : QString()));
            m_table->setItem(i, c, item);
        }
    }
    refreshPlots();
}

void ResultsPanel::refreshPlots() {
    struct Series {
        QString kind;
        QColor color;
        QCPScatterStyle::ScatterShape shape;
    };
    const Series series[] = {{"baseline", Qt::black, QCPScatterStyle::ssSquare},
                             {"export", QColor(0, 114, 178), QCPScatterStyle::ssDisc},
                             {"plan", QColor(213, 94, 0), QCPScatterStyle::ssTriangle}};
    for (QCustomPlot* plot : {m_speedPlot, m_bitsPlot}) {
        plot->clearGraphs();
        plot->clearItems();
        const bool speed = plot == m_speedPlot;
        for (const auto& s : series) {
            QVector<double> xs, ys;
            for (const auto& r : m_rows) {
                const double x = speed ? r.metrics[5] : r.avg_bits, y = headline_acc(r);
                if (r.kind != s.kind || std::isnan(x) || std::isnan(y)) continue;
                xs << x;
                ys << y;
            }
            QCPGraph* g = plot->addGraph();
            g->setName(s.kind);
            g->setLineStyle(QCPGraph::lsNone);
            g->setScatterStyle(QCPScatterStyle(s.shape, s.color, s.color, 8));
            g->setData(xs, ys);
        }
        plot->legend->setVisible(true);
        plot->rescaleAxes();
        auto pad = [](QCPAxis* a) {
            const QCPRange r = a->range();
            const double m = std::max(r.size() * 0.1, 0.05);
            a->setRange(r.lower - m, r.upper + m);
        };
        pad(plot->xAxis);
        pad(plot->yAxis);
        plot->replot();
    }
}

}  // namespace mixq::ui
