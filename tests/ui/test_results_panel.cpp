// SPDX-License-Identifier: MIT
// ResultsPanel charts and ResultsStore persistence: the accuracy-vs-decode-tokens/s chart gets one point per row
// that measured speed (x = decode tok/s, y = the headline accuracy), rows without speed stay off it; the store
// round-trips rows (NaN metrics included), refuses another model's file and a corrupt file with a note.
#include <QtTest>

#include <QApplication>
#include <QTabWidget>

#include <QFile>
#include <QTableWidget>
#include <nlohmann/json.hpp>
#include <cmath>
#include <fstream>

#include "qcustomplot.h"
#include "test_support.h"
#include "ui/results_panel.h"
#include "ui/results_store.h"

using mixq::ui::ResultRow;
using mixq::ui::ResultsPanel;
using mixq::ui::ResultsStore;

namespace {
ResultRow row(const char* label, const char* kind, double bits, double mmlu, double piqa, double decode) {
    ResultRow r;
    r.label = label;
    r.kind = kind;
    r.avg_bits = bits;
    r.size_bytes = bits * 1000;
    r.metrics[0] = mmlu;
    r.metrics[1] = piqa;
    r.metrics[2] = piqa + 0.01;
    r.metrics[5] = decode;
    return r;
}
}  // namespace

class TestResultsPanel : public QObject {
    Q_OBJECT

private slots:
    void equalAccuraciesGetANarrowAxisAroundThem() {
        // Baseline and plan with the same accuracy (40 questions often give it): the axis was the -4..4 that
        // QCustomPlot's rescale keeps around a single value, with both points flat on the line.
        ResultsPanel p;
        p.addRow(row("base", "baseline", 16, 0.25, 0.60, 20.0));
        p.addRow(row("plan", "plan", 5.0, 0.25, 0.58, 35.0));
        for (QCustomPlot* plot : {p.speedPlot(), p.bitsPlot()}) {
            const QCPRange y = plot->yAxis->range(), x = plot->xAxis->range();
            QVERIFY2(y.contains(0.25) && y.lower >= 0.0 && y.upper <= 1.0 && y.size() <= 0.2,
                     qPrintable(QString("%1..%2").arg(y.lower).arg(y.upper)));
            for (double v : plot == p.bitsPlot() ? std::vector<double>{16, 5} : std::vector<double>{20, 35})
                QVERIFY2(x.contains(v) && x.lower < v && v < x.upper, qPrintable(QString("%1..%2").arg(x.lower).arg(x.upper)));
        }
    }

    void legendsSitOutsideTheDataAndAxisTitlesFit() {
        ResultsPanel p;
        p.resize(900, 240);
        p.show();
        p.addRow(row("base", "baseline", 16, 0.50, 0.60, 20.0));
        p.addRow(row("exp", "export", 4.5, 0.46, 0.58, 41.0));
        QVERIFY(QTest::qWaitForWindowExposed(&p));
        for (QCustomPlot* plot : {p.speedPlot(), p.bitsPlot()}) {
            p.chartTabs()->setCurrentWidget(plot);
            plot->replot();
            QApplication::processEvents();
            // Not in the axis rect's inset layout (where it covered the baseline point): its own row below.
            QVERIFY(!plot->axisRect()->insetLayout()->elements(false).contains(plot->legend));
            QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
            // The vertical axis title fits the axis rect's height (it was cut: "accuracy (MMLU, else PIQ").
            const QFontMetrics fm(plot->yAxis->labelFont());
            QVERIFY2(fm.horizontalAdvance(plot->yAxis->label()) < plot->axisRect()->height(),
                     qPrintable(QString("%1 px title, %2 px axis").arg(fm.horizontalAdvance(plot->yAxis->label())).arg(plot->axisRect()->height())));
        }
    }

    void speedChartPlotsRowsWithSpeed() {
        ResultsPanel p;
        p.addRow(row("base", "baseline", 16, 0.50, 0.60, 20.0));
        p.addRow(row("exp", "export", 4.5, 0.46, 0.58, 41.0));
        p.addRow(row("plan", "plan", 5.0, 0.47, 0.59, ResultRow::kNone));  // no speed measured
        QCustomPlot* plot = p.speedPlot();
        QCOMPARE(plot->graphCount(), 3);
        int points = 0;
        for (int g = 0; g < plot->graphCount(); ++g) {
            const auto* data = plot->graph(g)->data().data();
            for (auto it = data->constBegin(); it != data->constEnd(); ++it) {
                ++points;
                const QString kind = plot->graph(g)->name();
                QVERIFY(kind == "baseline" || kind == "export");
                QCOMPARE(it->key, kind == "baseline" ? 20.0 : 41.0);
                QVERIFY(it->value > 0.4 && it->value < 0.7);
            }
        }
        QCOMPARE(points, 2);
        // The accuracy-vs-bits chart takes all three rows.
        int bit_points = 0;
        for (int g = 0; g < p.bitsPlot()->graphCount(); ++g) bit_points += p.bitsPlot()->graph(g)->dataCount();
        QCOMPARE(bit_points, 3);
    }

    void speedDeltasOnlyBetweenOneRuntime() {
        // Each speed cell names its runtime; a delta against the baseline is drawn only when the same runtime
        // measured both (a CPU-engine baseline against an ONNX Runtime export would compare two programs).
        ResultsPanel p;
        const nlohmann::json base_rep = {{"tasks", {{"speed", {{"target", {{"decode_tokens_per_s", 20.0},
                                                                             {"prefill_tokens_per_s", 200.0},
                                                                             {"runtime", "MixQ CPU engine (fp32), 2 threads"}}}}}}}};
        const nlohmann::json ort_rep = {{"tasks", {{"speed", {{"target", {{"decode_tokens_per_s", 60.0},
                                                                            {"prefill_tokens_per_s", 300.0},
                                                                            {"runtime", "ONNX Runtime 1.30.0, CPU, 2 threads"}}}}}}}};
        p.addRow(ResultsPanel::row_from_report(base_rep, "target", "base", "baseline", 16, 1000));
        p.addRow(ResultsPanel::row_from_report(ort_rep, "target", "ort", "export", 4.5, 300));
        ResultRow same = ResultsPanel::row_from_report(base_rep, "target", "engine plan", "plan", 5, 400);
        same.metrics[5] = 25.0;
        p.addRow(same);
        QCOMPARE(p.rowCount(), 3);
        auto* t = p.findChild<QTableWidget*>();
        QVERIFY(t);
        const auto* ort_decode = t->item(1, ResultsPanel::Decode);
        QVERIFY(std::isnan(ort_decode->data(ResultsPanel::kDeltaRole).toDouble()));
        QCOMPARE(ort_decode->text(), QString("60.0"));
        QVERIFY2(ort_decode->toolTip().contains("measured by ONNX Runtime 1.30.0, CPU, 2 threads") &&
                     ort_decode->toolTip().contains("no delta: the baseline was measured by MixQ CPU engine"),
                 qPrintable(ort_decode->toolTip()));
        const auto* same_decode = t->item(2, ResultsPanel::Decode);
        QCOMPARE(same_decode->data(ResultsPanel::kDeltaRole).toDouble(), 5.0);
        // The runtime survives the store.
        const auto dir = mixq_test::scratch("ui_results_runtime");
        ResultsStore store(QString::fromStdString(dir.string()));
        store.save("r1", {ResultsPanel::row_from_report(ort_rep, "target", "ort", "export", 4.5, 300)});
        QCOMPARE(store.load("r1").at(0).speed_runtime, QString("ONNX Runtime 1.30.0, CPU, 2 threads"));
    }

    void measuredKldBesideThePredictionFlaggedAboveOneAndAHalf() {
        // An export evaluated with a perplexity text and its baseline: the report's measured KLD sits beside the
        // plan's prediction; more than 1.5x the prediction is flagged, within it is not, an unknown prediction says
        // so, and rows without a measurement leave the cell empty. The numbers survive the store.
        ResultsPanel p;
        auto rep = [](double measured, nlohmann::json predicted) {
            return nlohmann::json{{"tasks", nlohmann::json::object()},
                                  {"measured_kld", {{"mean", measured}, {"predicted", predicted}}}};
        };
        p.addRow(ResultsPanel::row_from_report(rep(0.03, 0.01), "target", "over", "export", 4.5, 300));
        p.addRow(ResultsPanel::row_from_report(rep(0.012, 0.01), "target", "within", "export", 5, 400));
        p.addRow(ResultsPanel::row_from_report(rep(0.02, nullptr), "target", "unknown", "export", 5, 400));
        p.addRow(ResultsPanel::row_from_report(rep(0.02, 0.01), "baseline", "base", "baseline", 16, 1000));
        auto* t = p.findChild<QTableWidget*>();
        QVERIFY(t);
        auto cell = [&](const QString& label) {
            for (int i = 0; i < t->rowCount(); ++i)
                if (t->item(i, ResultsPanel::Model)->text() == label) return t->item(i, ResultsPanel::Kld);
            return static_cast<QTableWidgetItem*>(nullptr);
        };
        QVERIFY(cell("over")->text().startsWith(QString::fromUtf8("\u26a0")));
        QCOMPARE(cell("over")->data(ResultsPanel::kDeltaRole).toDouble(), 3.0);
        QVERIFY(cell("over")->toolTip().contains("more than 1.5"));
        QVERIFY(!cell("within")->text().startsWith(QString::fromUtf8("\u26a0")));
        QVERIFY(std::fabs(cell("within")->data(ResultsPanel::kDeltaRole).toDouble() - 1.2) < 1e-12);
        QVERIFY(cell("unknown")->text().contains("unknown"));
        QVERIFY(cell("base")->text().isEmpty());  // the baseline side of a report has no measured KLD
        QVERIFY(p.csv({}).contains("measured_kld,predicted_kld"));
        const auto dir = mixq_test::scratch("ui_results_kld");
        ResultsStore store(QString::fromStdString(dir.string()));
        store.save("k1", {ResultsPanel::row_from_report(rep(0.03, 0.01), "target", "over", "export", 4.5, 300)});
        const auto back = store.load("k1");
        QCOMPARE(back.at(0).measured_kld, 0.03);
        QCOMPARE(back.at(0).predicted_kld, 0.01);
    }

    void storeRoundTripsRows() {
        const auto dir = mixq_test::scratch("ui_results_store");
        ResultsStore store(QString::fromStdString(dir.string()));
        std::vector<ResultRow> rows = {row("base", "baseline", 16, 0.5, 0.6, 20), row("p", "plan", 5, 0.4, 0.5, ResultRow::kNone)};
        store.save("abc123", rows);
        QString note;
        const auto back = store.load("abc123", &note);
        QVERIFY2(note.isEmpty(), qPrintable(note));
        QCOMPARE(back.size(), rows.size());
        for (size_t i = 0; i < rows.size(); ++i) {
            QCOMPARE(back[i].label, rows[i].label);
            QCOMPARE(back[i].kind, rows[i].kind);
            QCOMPARE(back[i].avg_bits, rows[i].avg_bits);
            QCOMPARE(back[i].size_bytes, rows[i].size_bytes);
            for (int m = 0; m < 6; ++m)
                QVERIFY((std::isnan(back[i].metrics[m]) && std::isnan(rows[i].metrics[m])) ||
                        back[i].metrics[m] == rows[i].metrics[m]);
        }
        QVERIFY(store.load("other", &note).empty());  // nothing stored for another hash
        // A file renamed to another model's hash is refused with a note naming it.
        QVERIFY(QFile::copy(store.pathFor("abc123"), store.pathFor("def456")));
        QVERIFY(store.load("def456", &note).empty());
        QVERIFY2(note.contains("def456.json") && note.contains("another model"), qPrintable(note));
        // A truncated file is refused with a note, never a crash.
        std::ofstream(store.pathFor("abc123").toStdString()) << "{\"schema\":\"mixq.results/1\",\"rows\":[";
        note.clear();
        QVERIFY(store.load("abc123", &note).empty());
        QVERIFY2(note.contains("abc123.json"), qPrintable(note));
        // Saving no rows removes the file.
        store.save("abc123", {});
        QVERIFY(!QFile::exists(store.pathFor("abc123")));
    }
};

QTEST_MAIN(TestResultsPanel)
#include "test_results_panel.moc"
