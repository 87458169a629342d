// SPDX-License-Identifier: MIT
// ResultsPanel: table of evaluated models with n, standard errors and deltas to the baseline measured on the same
// questions, the accuracy charts, and row deletion / CSV copy.
#include "ui/results_panel.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHeaderView>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>
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

bool is_accuracy(int col) { return col == ResultsPanel::Mmlu || col == ResultsPanel::PiqaAcc || col == ResultsPanel::PiqaNorm; }

/// The accuracy a chart shows: MMLU when measured, else PIQA acc.
double headline_acc(const ResultRow& r) { return std::isnan(r.metrics[0]) ? r.metrics[1] : r.metrics[0]; }

void setup_plot(QCustomPlot* p, const QString& x, const QString& name) {
    p->setObjectName(name);
    p->xAxis->setLabel(x);
    p->yAxis->setLabel(QObject::tr("accuracy"));  // short: the full wording would be cut on a low chart
    p->setToolTip(QObject::tr("accuracy: MMLU when measured, else PIQA acc"));
    p->setMinimumHeight(110);  // the Results dock fits a 1024x700 window below heatmap and frontier
    // The legend sits in its own column right of the axis rect, never over the data.
    auto* column = new QCPLayoutGrid;
    p->plotLayout()->addElement(0, 1, column);
    column->setMargins(QMargins(2, 4, 4, 4));
    column->addElement(0, 0, p->legend);
    column->addElement(1, 0, new QCPLayoutElement(p));  // pushes the legend to the top
    column->setRowStretchFactor(1, 1000);
    p->legend->setFillOrder(QCPLegend::foRowsFirst);
    p->legend->setBorderPen(Qt::NoPen);
    p->plotLayout()->setColumnStretchFactor(1, 0.001);
}

QString csv_field(QString s) {
    if (s.contains(',') || s.contains('"') || s.contains('\n')) s = '"' + s.replace('"', "\"\"") + '"';
    return s;
}

QString csv_number(double v) { return std::isnan(v) ? QString() : QString::number(v, 'g', 10); }

}  // namespace

ResultsPanel::ResultsPanel(ResultsModel* model, QWidget* parent)
    : QWidget(parent), m_model(model ? model : new ResultsModel(this)) {
    setObjectName("resultsPanel");
    connect(m_model, &ResultsModel::changed, this, [this] {
        refresh();
        emit rowsChanged();
    });
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    auto* split = new QSplitter(Qt::Horizontal, this);
    lay->addWidget(split);
    m_table = new QTableWidget(0, ColumnCount);
    m_table->setObjectName("resultsTable");
    m_table->setHorizontalHeaderLabels({tr("Model"), tr("Avg bits"), tr("Size"), tr("MMLU"), tr("PIQA acc"),
                                        tr("PIQA acc_norm"), tr("Perplexity"), tr("Prefill tok/s"), tr("Decode tok/s"),
                                        tr("KLD measured / predicted")});
    m_table->horizontalHeaderItem(Kld)->setToolTip(
        tr("mean KL(p_baseline \u2016 p_export) per token over the perplexity text, beside the plan's predicted KLD; "
           "flagged when the measurement exceeds %1\u00d7 the prediction").arg(ResultRow::kKldFlagRatio));
    for (int c : {int(Mmlu), int(PiqaAcc), int(PiqaNorm)})
        m_table->horizontalHeaderItem(c)->setToolTip(
            tr("accuracy \u00b1 standard error sqrt(p(1-p)/(n-1)), n = questions; (delta to the baseline measured on the "
               "same questions)"));
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_copy = new QAction(tr("Copy as CSV"), m_table);
    m_copy->setObjectName("resultsCopy");
    m_copy->setShortcut(QKeySequence::Copy);
    m_copy->setShortcutContext(Qt::WidgetShortcut);
    connect(m_copy, &QAction::triggered, this, &ResultsPanel::copySelection);
    m_delete = new QAction(tr("Delete Rows"), m_table);
    m_delete->setObjectName("resultsDelete");
    m_delete->setShortcut(QKeySequence::Delete);
    m_delete->setShortcutContext(Qt::WidgetShortcut);
    connect(m_delete, &QAction::triggered, this, &ResultsPanel::deleteSelection);
    m_table->addAction(m_copy);
    m_table->addAction(m_delete);
    m_table->setContextMenuPolicy(Qt::ActionsContextMenu);
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
    r.n[0] = num(task("mmlu"), "n");
    r.n[1] = r.n[2] = num(task("piqa"), "n");
    r.n[3] = num(task("ppl"), "tokens");
    r.err[0] = num(task("mmlu"), "stderr");
    r.err[1] = num(task("piqa"), "acc_stderr");
    r.err[2] = num(task("piqa"), "acc_norm_stderr");
    const auto& speed = task("speed");
    if (speed.is_object() && speed.contains("runtime") && speed["runtime"].is_string())
        r.speed_runtime = QString::fromStdString(speed["runtime"].get<std::string>());
    if (std::string(side) == "target" && report.contains("measured_kld") && report["measured_kld"].is_object()) {
        r.measured_kld = num(report["measured_kld"], "mean");
        r.predicted_kld = num(report["measured_kld"], "predicted");
    }
    return r;
}

QList<int> ResultsPanel::selectedRows() const {
    QList<int> rows;
    for (const QModelIndex& i : m_table->selectionModel()->selectedRows()) rows << i.row();
    std::sort(rows.begin(), rows.end());
    return rows;
}

void ResultsPanel::deleteSelection() { removeRows(selectedRows()); }

void ResultsPanel::copySelection() const {
    const QList<int> rows = selectedRows();
    QApplication::clipboard()->setText(csv(rows));
}

QString ResultsPanel::csv(QList<int> rows) const {
    if (rows.isEmpty())
        for (int i = 0; i < rowCount(); ++i) rows << i;
    static const char* kMetricNames[] = {"mmlu", "piqa_acc", "piqa_acc_norm", "ppl", "prefill_tok_s", "decode_tok_s"};
    QStringList head = {"model", "kind", "avg_bits", "size_bytes"};
    for (const char* m : kMetricNames) head << m << QString(m) + "_n" << QString(m) + "_stderr";
    head << "speed_runtime" << "questions" << "measured_kld" << "predicted_kld";
    QString out = head.join(',') + '\n';
    for (int i : rows) {
        if (i < 0 || i >= rowCount()) continue;
        const ResultRow& r = m_model->rows()[size_t(i)];
        QStringList f = {csv_field(r.label), r.kind, csv_number(r.avg_bits), csv_number(r.size_bytes)};
        for (int m = 0; m < 6; ++m) f << csv_number(r.metrics[m]) << csv_number(r.n[m]) << csv_number(r.err[m]);
        f << csv_field(r.speed_runtime) << csv_field(r.eval_text) << csv_number(r.measured_kld)
          << csv_number(r.predicted_kld);
        out += f.join(',') + '\n';
    }
    return out;
}

int ResultsPanel::rowCount() const { return m_model->size(); }

void ResultsPanel::refresh() {
    m_table->setRowCount(rowCount());
    auto value = [](const ResultRow& r, int col) {
        if (col == AvgBits) return r.avg_bits;
        if (col == Size) return r.size_bytes;
        return r.metrics[col - Mmlu];
    };
    for (int i = 0; i < rowCount(); ++i) {
        const ResultRow& r = rows()[size_t(i)];
        const ResultRow* base = r.kind == "baseline" ? nullptr : baselineFor(r);
        auto* name = new QTableWidgetItem(r.label);
        name->setToolTip(tr("%1; measured on %2").arg(r.kind, r.eval_text.isEmpty() ? tr("unrecorded questions") : r.eval_text));
        m_table->setItem(i, Model, name);
        m_table->setItem(i, Kld, kldItem(r));
        for (int c = AvgBits; c <= Decode; ++c) {
            const double v = value(r, c);
            const bool speed = c == Prefill || c == Decode;
            // Speeds compare only when one runtime measured both (an engine row against an ONNX Runtime row would
            // credit or blame quantization for the difference between two programs).
            const bool comparable = !speed || (base && base->speed_runtime == r.speed_runtime);
            const double d = base && comparable ? v - value(*base, c) : kNaN;
            QString text = fmt(c, v);
            const int m = c - Mmlu;
            if (m >= 0 && !std::isnan(v) && !std::isnan(r.err[m])) text += QString(" \u00b1%1").arg(r.err[m], 0, 'f', 3);
            if (m >= 0 && !std::isnan(v) && !std::isnan(r.n[m]))
                text += QString(" \u00b7 n %1").arg(static_cast<qint64>(r.n[m]));
            if (!std::isnan(d)) text += QString(" (%1%2)").arg(d >= 0 ? "+" : "").arg(fmt(c, d));
            auto* item = new QTableWidgetItem(text);
            item->setData(kValueRole, v);
            item->setData(kDeltaRole, d);
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            if (is_accuracy(c) && !std::isnan(v))
                item->setToolTip(tr("%1 of %2 questions, standard error %3%4")
                                     .arg(v, 0, 'f', 4)
                                     .arg(static_cast<qint64>(r.n[m]))
                                     .arg(r.err[m], 0, 'f', 4)
                                     .arg(r.kind != "baseline" && !base ? tr("; no delta: no baseline was measured on the same questions")
                                                                        : QString()));
            if (speed && !std::isnan(v))
                item->setToolTip(tr("measured by %1%2")
                                     .arg(r.speed_runtime.isEmpty() ? tr("an unrecorded runtime") : r.speed_runtime)
                                     .arg(base && !comparable
                                              ? tr("; no delta: the baseline was measured by %1")
                                                    .arg(base->speed_runtime.isEmpty() ? tr("an unrecorded runtime")
                                                                                       : base->speed_runtime)
                                              : QString()));
            m_table->setItem(i, c, item);
        }
    }
    refreshPlots();
}

QTableWidgetItem* ResultsPanel::kldItem(const ResultRow& r) const {
    auto* item = new QTableWidgetItem;
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    item->setData(kValueRole, r.measured_kld);
    item->setData(kDeltaRole, kNaN);  // here: measured / predicted, when both are known
    if (std::isnan(r.measured_kld)) return item;
    const double ratio = r.kldRatio();
    QString text = QString::number(r.measured_kld, 'g', 3) + " / " +
                   (std::isnan(r.predicted_kld) ? tr("unknown") : QString::number(r.predicted_kld, 'g', 3));
    if (!std::isnan(ratio)) text += QString(" (\u00d7%1)").arg(ratio, 0, 'f', 2);
    item->setData(kDeltaRole, ratio);
    if (ratio > ResultRow::kKldFlagRatio) {
        text = "\u26a0 " + text;
        item->setForeground(QColor(200, 0, 0));
        item->setToolTip(tr("the measured KLD is %1\u00d7 the plan's prediction (more than %2\u00d7): the scores "
                            "under-predict this plan's damage")
                             .arg(ratio, 0, 'f', 2)
                             .arg(ResultRow::kKldFlagRatio));
    } else {
        item->setToolTip(std::isnan(ratio) ? tr("the plan's predicted KLD is unknown")
                                           : tr("measured / predicted = %1").arg(ratio, 0, 'f', 2));
    }
    item->setText(text);
    return item;
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
            for (const auto& r : rows()) {
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
        // Ranges from the points themselves with a margin (QCustomPlot's rescale keeps the old span around a
        // single value, which put two equal accuracies on a -4..4 axis).
        double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
        for (int g = 0; g < plot->graphCount(); ++g)
            for (auto it = plot->graph(g)->data()->constBegin(); it != plot->graph(g)->data()->constEnd(); ++it) {
                x0 = std::min(x0, it->key);
                x1 = std::max(x1, it->key);
                y0 = std::min(y0, it->value);
                y1 = std::max(y1, it->value);
            }
        if (!std::isfinite(x0)) {
            x0 = speed ? 0.0 : 2.0;
            x1 = speed ? 100.0 : 16.0;
            y0 = 0.0;
            y1 = 1.0;
        }
        const double mx = std::max((x1 - x0) * 0.1, speed ? std::max(1.0, x1 * 0.1) : 0.5);
        const double my = std::max((y1 - y0) * 0.1, 0.05);
        plot->xAxis->setRange(speed ? std::max(0.0, x0 - mx) : x0 - mx, x1 + mx);
        plot->yAxis->setRange(std::max(0.0, y0 - my), std::min(1.0, y1 + my));
        plot->xAxis->ticker()->setTickCount(3);  // a narrow chart cannot hold more labels
        plot->yAxis->ticker()->setTickCount(4);
        plot->replot();
    }
}

}  // namespace mixq::ui
