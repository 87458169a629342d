// SPDX-License-Identifier: MIT
// SensitivityHeatmap: cell values (log10 KLD at the unit's row/columns), group outlines, incremental scores,
// plan labels, tooltips, candidate switching. Expected positions come from the unit names and the column order
// q k v o gate up down, not from the widget's own placement code.
#include <QComboBox>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMouseEvent>
#include <QToolTip>
#include <cmath>
#include <map>
#include <qcustomplot.h>
#include <set>

#include "test_support.h"
#include "ui/sensitivity_heatmap.h"
#include "ui/widget_capture.h"
#include "ui_test_fakes.h"

using namespace mixq;

namespace {
struct Place {
    int row;
    std::vector<int> cols;
};

/// Independent placement: "layers.N.qkv" -> row N, q/k/v columns; tied embedding -> last row, all columns.
Place expected_place(const std::string& name, int layers) {
    if (name == "tied_embedding") return {layers, {0, 1, 2, 3, 4, 5, 6}};
    const auto dot2 = name.find('.', 7);
    const int row = std::stoi(name.substr(7, dot2 - 7));
    const std::string kind = name.substr(dot2 + 1);
    if (kind == "qkv") return {row, {0, 1, 2}};
    if (kind == "o") return {row, {3}};
    if (kind == "gate_up") return {row, {4, 5}};
    if (kind == "down") return {row, {6}};
    return {-1, {}};
}

QJsonObject demo_config() {
    return QJsonDocument::fromJson(QByteArray::fromStdString(mixq_test::read_text(mixq_test::demo_model() / "config.json")))
        .object();
}
}  // namespace

class TestSensitivityHeatmap : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;
    int m_layers = 0;

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        m_layers = demo_config().value("num_hidden_layers").toInt();
        QCOMPARE(m_layers, 6);
    }

    void layout_gives_blank_grid_with_groups() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        QCOMPARE(h.rowCount(), m_layers + 1);
        QCOMPARE(h.columnCount(), 7);
        for (int r = 0; r < h.rowCount(); ++r)
            for (int c = 0; c < 7; ++c) QVERIFY2(std::isnan(h.cellValue(r, c)), "unscored cells must be blank");
        // Groups: one qkv and one gate_up per layer, and the tied embedding row.
        QCOMPARE(h.groupCount(), 2 * m_layers + 1);
        QCOMPARE(h.scoredUnitCount(), 0);
    }

    void score_table_puts_log10_kld_at_unit_cells() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        const auto table = mixq_test::fake_scores(*m_model);
        h.setScoreTable(table);
        QCOMPARE(h.currentCandidate(), QString("int4-g128"));
        std::set<std::pair<int, int>> covered;
        for (size_t i = 0; i < table.units.size(); ++i) {
            const Place p = expected_place(table.units[i].name, m_layers);
            QVERIFY2(p.row >= 0, table.units[i].name.c_str());
            for (int c : p.cols) {
                const double want = std::log10(mixq_test::fake_kld(i, 0));
                QVERIFY2(std::fabs(h.cellValue(p.row, c) - want) < 1e-12,
                         qPrintable(QString("%1 at row %2 col %3: %4 vs %5")
                                        .arg(table.units[i].name.c_str())
                                        .arg(p.row)
                                        .arg(c)
                                        .arg(h.cellValue(p.row, c))
                                        .arg(want)));
                covered.insert({p.row, c});
            }
        }
        QCOMPARE(covered.size(), size_t((m_layers + 1) * 7));  // every cell belongs to exactly one unit
        // Spot check by hand: layer 2's o_proj is unit #9 in forward order (qkv, o, gate_up, down per layer).
        QCOMPARE(h.cellValue(2, 3), std::log10(mixq_test::fake_kld(9, 0)));

        // Colour range spans exactly the drawn values.
        double lo = 1e9, hi = -1e9;
        for (size_t i = 0; i < table.units.size(); ++i) {
            lo = std::min(lo, std::log10(mixq_test::fake_kld(i, 0)));
            hi = std::max(hi, std::log10(mixq_test::fake_kld(i, 0)));
        }
        QCOMPARE(h.colorRangeLower(), lo);
        QCOMPARE(h.colorRangeUpper(), hi);
        QCOMPARE(h.colorScale()->axis()->label(), QString("log10 KLD"));

        // Another candidate: same cells, that candidate's KLD.
        QVERIFY(h.setCurrentCandidate("int8-g32"));
        QCOMPARE(h.candidateBox()->currentText(), QString("int8-g32"));
        QCOMPARE(h.cellValue(2, 3), std::log10(mixq_test::fake_kld(9, 1)));
        QCOMPARE(h.cellValue(m_layers, 6), std::log10(mixq_test::fake_kld(table.units.size() - 1, 1)));
        QVERIFY(!h.setCurrentCandidate("int3-g7"));
    }

    void group_rectangles_surround_their_spans() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        auto check = [&](const QString& unit, double x0, double x1, double row) {
            const QRectF r = h.groupRect(unit).normalized();
            QVERIFY2(!r.isNull(), qPrintable(unit));
            // Within a cell's 0.15 inset of the span's outer edges, and containing every member cell centre.
            QVERIFY2(std::fabs(r.left() - (x0 - 0.5)) < 0.15 && std::fabs(r.right() - (x1 + 0.5)) < 0.15,
                     qPrintable(unit));
            QVERIFY2(std::fabs(r.top() - (row - 0.5)) < 0.15 && std::fabs(r.bottom() - (row + 0.5)) < 0.15,
                     qPrintable(unit));
            for (double x = x0; x <= x1; x += 1) QVERIFY(r.contains(QPointF(x, row)));
            QVERIFY(!r.contains(QPointF(x0 - 1, row)));
            QVERIFY(!r.contains(QPointF(x1 + 1, row)));
        };
        check("layers.2.qkv", 0, 2, 2);
        check("layers.4.gate_up", 4, 5, 4);
        check("tied_embedding", 0, 6, m_layers);
        QVERIFY(h.groupRect("layers.2.o").isNull());     // single-column units are not outlined
        QVERIFY(h.groupRect("layers.2.down").isNull());
    }

    void scores_arrive_incrementally() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        const auto table = mixq_test::fake_scores(*m_model);
        h.setCandidates(table.candidates);
        h.setUnitScore(table.units[4]);  // layers.1.qkv
        QCOMPARE(h.scoredUnitCount(), 1);
        for (int c = 0; c < 3; ++c) QCOMPARE(h.cellValue(1, c), std::log10(mixq_test::fake_kld(4, 0)));
        QVERIFY(std::isnan(h.cellValue(1, 3)));
        QVERIFY(std::isnan(h.cellValue(0, 0)));
        h.setUnitScore(table.units[7]);  // layers.1.down
        QCOMPARE(h.cellValue(1, 6), std::log10(mixq_test::fake_kld(7, 0)));
        QVERIFY(std::isnan(h.cellValue(1, 4)));
        QCOMPARE(h.scoredUnitCount(), 2);
        h.clearScores();
        QVERIFY(std::isnan(h.cellValue(1, 6)));
    }

    void scores_without_layout_are_placed_by_kind_and_layer() {
        ui::SensitivityHeatmap h;  // no model
        const auto table = mixq_test::fake_scores(*m_model);
        h.setScoreTable(table);
        QCOMPARE(h.rowCount(), m_layers + 1);
        QCOMPARE(h.cellValue(5, 4), std::log10(mixq_test::fake_kld(5 * 4 + 2, 0)));
        QCOMPARE(h.groupCount(), 2 * m_layers + 1);
    }

    void plan_formats_label_each_cell() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        h.setPlanFormats({{"layers.0.qkv", "int4-g32"}, {"layers.0.o", "int8-g128"}, {"tied_embedding", "fp16"}});
        for (int c = 0; c < 3; ++c) QCOMPARE(h.cellText(0, c), QString("4"));
        QCOMPARE(h.cellText(0, 3), QString("8"));
        for (int c = 0; c < 7; ++c) QCOMPARE(h.cellText(m_layers, c), QString("16"));
        QCOMPARE(h.cellText(0, 4), QString());
        QCOMPARE(h.cellText(1, 0), QString());
    }

    void tooltip_names_tensor_shape_scores_and_plan() {
        ui::SensitivityHeatmap h;
        h.setModelLayout(m_model->layout(), m_layers);
        QVERIFY(h.cellToolTip(0, 1).contains("not scored"));
        const auto table = mixq_test::fake_scores(*m_model);
        h.setScoreTable(table);
        // int4-g32 is not a candidate: its bytes are computed exactly. q [128,128] + k, v [64,128]: per row
        // 4 blocks of 32 -> 64 B packed + 4 fp16 scales (8 B) + ceil(4*4/8) = 2 B zero points = 74 B per row.
        h.setPlanFormats({{"layers.0.qkv", "int4-g32"}, {"layers.0.o", "int8-g32"}});
        const QJsonObject cfg = demo_config();
        const int hidden = cfg.value("hidden_size").toInt();
        const int kv = cfg.value("num_key_value_heads").toInt() * cfg.value("head_dim").toInt();
        const QString tip = h.cellToolTip(0, 1);
        QVERIFY2(tip.contains("layers.0.qkv"), qPrintable(tip));
        QVERIFY2(tip.contains("model.layers.0.self_attn.k_proj.weight"), qPrintable(tip));
        QVERIFY2(tip.contains(QString("[%1, %2]").arg(kv).arg(hidden)), qPrintable(tip));
        for (size_t c = 0; c < 3; ++c) {
            QVERIFY2(tip.contains(QString::number(mixq_test::fake_kld(0, c), 'g', 3)), qPrintable(tip));
            QVERIFY2(tip.contains(QString::fromStdString(table.candidates[c].name())), qPrintable(tip));
        }
        const int rows = hidden + 2 * kv;
        QVERIFY2(tip.contains("int4-g32") && tip.contains(QLocale(QLocale::English).toString(74 * rows)),
                 qPrintable(tip));
        // A planned format that was scored reports the scored bytes (unit #1 = layers.0.o).
        const QString tip_o = h.cellToolTip(0, 3);
        QVERIFY2(tip_o.contains("model.layers.0.self_attn.o_proj.weight"), qPrintable(tip_o));
        QVERIFY2(tip_o.contains(QLocale(QLocale::English).toString(qlonglong(table.units[1].candidates[1].bytes)) +
                                " bytes"),
                 qPrintable(tip_o));
        QVERIFY(h.cellToolTip(-1, 0).isEmpty());
        QVERIFY(h.cellToolTip(0, 7).isEmpty());
    }

    void many_layers_render_with_every_unit_placed() {
        // A 40-layer, untied score table built by hand (no model): rows 0..39 plus the embed / lm_head row.
        const int layers = 40;
        score::ScoreTable t;
        t.candidates = {quant::QuantFormat::parse("int4-g32")};
        auto add = [&](const std::string& name, io::UnitKind kind, int layer, double kld) {
            score::UnitScore u;
            u.name = name;
            u.kind = kind;
            u.layer = layer;
            u.members = {name + ".weight"};
            u.shapes = {{4096, 4096}};
            score::CandidateScore c;
            c.format = t.candidates[0];
            c.kld = kld;
            u.candidates = {c};
            t.units.push_back(u);
        };
        add("embed_tokens", io::UnitKind::Embedding, -1, 1e-4);
        for (int l = 0; l < layers; ++l) {
            const std::string p = "layers." + std::to_string(l) + ".";
            add(p + "qkv", io::UnitKind::QKV, l, 1e-3 * (l + 1));
            add(p + "o", io::UnitKind::O, l, 2e-4 * (l + 1));
            add(p + "gate_up", io::UnitKind::GateUp, l, 5e-4 * (40 - l));
            add(p + "down", io::UnitKind::Down, l, 1e-2 / (l + 1));
        }
        add("lm_head", io::UnitKind::LmHead, -1, 0.05);
        ui::SensitivityHeatmap h;
        h.resize(1000, 800);
        h.setScoreTable(t);
        QCOMPARE(h.rowCount(), layers + 1);
        QCOMPARE(h.cellValue(39, 6), std::log10(1e-2 / 40));
        QCOMPARE(h.cellValue(0, 5), std::log10(5e-4 * 40));
        // Untied: embeddings on q..o of the last row, lm_head on gate..down, each outlined.
        for (int c = 0; c < 4; ++c) QCOMPARE(h.cellValue(layers, c), std::log10(1e-4));
        for (int c = 4; c < 7; ++c) QCOMPARE(h.cellValue(layers, c), std::log10(0.05));
        QCOMPARE(h.groupCount(), 2 * layers + 2);
        const QString dir = QString(MIXQ_BINARY_DIR) + "/screenshots";
        QDir().mkpath(dir);
        h.show();
        QVERIFY(QTest::qWaitForWindowExposed(&h));
        ui::save_widget_png(&h, dir + "/06_heatmap_40_layers.png");
        QVERIFY(!QImage(dir + "/06_heatmap_40_layers.png").isNull());
    }

    void hovering_a_cell_shows_its_tooltip() {
        ui::SensitivityHeatmap h;
        h.resize(900, 600);
        h.show();
        QVERIFY(QTest::qWaitForWindowExposed(&h));
        h.setModelLayout(m_model->layout(), m_layers);
        h.setScoreTable(mixq_test::fake_scores(*m_model));
        h.plot()->replot();
        QCustomPlot* p = h.plot();
        const QPoint pos(int(p->xAxis->coordToPixel(4)), int(p->yAxis->coordToPixel(2)));
        QMouseEvent move(QEvent::MouseMove, QPointF(pos), QPointF(p->mapToGlobal(pos)), Qt::NoButton, Qt::NoButton,
                         Qt::NoModifier);
        QCoreApplication::sendEvent(p, &move);
        QTRY_VERIFY2(QToolTip::isVisible(), "tooltip not shown");
        QVERIFY2(QToolTip::text().contains("model.layers.2.mlp.gate_proj.weight"), qPrintable(QToolTip::text()));
        QToolTip::hideText();
    }
};

QTEST_MAIN(TestSensitivityHeatmap)
#include "test_sensitivity_heatmap.moc"
