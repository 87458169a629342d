// SPDX-License-Identifier: MIT
// The bit-budget panel on real demo-model scores: the slider starts at the smallest reachable average on the
// 0.05 grid; every position shows the plan that an independently built Planner gives for the same ScoreTable
// (formats, average bits, KLD, file size, counts, heatmap labels); over all positions the average stays within
// the target, the predicted KLD never rises, and the optimum is never worse than any uniform plan that fits
// (uniform plans computed here in closed form from the storage formula); presets and the spin box re-plan.
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QSignalSpy>
#include <QSlider>
#include <cmath>

#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/planner.h"
#include "core/export/exporter.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/format_utils.h"
#include "ui/frontier_plot.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui_test_env.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::MainWindow;

namespace {
struct Uniform {
    std::string format;
    double avg_bits;
    double kld;
};

/// Every unit in one candidate: storage from QuantFormat::storage_bits over the members, KLD summed.
std::vector<Uniform> uniform_plans(const score::ScoreTable& t) {
    std::vector<Uniform> out;
    for (size_t c = 0; c < t.candidates.size(); ++c) {
        double bits = 0, weights = 0, kld = 0;
        for (const auto& u : t.units) {
            for (const auto& s : u.shapes) {
                bits += double(t.candidates[c].storage_bits(s[0], s[1], t.scale_bits));
                weights += double(s[0] * s[1]);
            }
            kld += u.candidates[c].kld;
        }
        out.push_back({t.candidates[c].name(), bits / weights, kld});
    }
    return out;
}

std::map<std::string, std::string> formats_of(const plan::Plan& p) {
    std::map<std::string, std::string> m;
    for (const auto& u : p.units) m[u.name] = u.format.name();
    return m;
}
}  // namespace

class TestBudgetPanel : public QObject {
    Q_OBJECT
    std::unique_ptr<MainWindow> m_w;
    score::ScoreTable m_table;
    std::unique_ptr<plan::Planner> m_ref;

    ui::BudgetPanel* panel() const { return m_w->budgetPanel(); }

private slots:
    void initTestCase() {
        mixq_test::isolate_user_state("ui_budget_panel");
        m_w = std::make_unique<MainWindow>();
        m_w->setErrorDialogsEnabled(false);
        m_w->setRememberRecent(false);
        m_w->setAutoScore(false);
        m_w->resize(1440, 900);
        m_w->show();
        QSignalSpy loaded(m_w.get(), &MainWindow::modelLoaded);
        m_w->openDemoModel();
        QTRY_COMPARE(loaded.count(), 1);
        QVERIFY(!panel()->isEnabled());  // no scores, no planner
        m_table = mixq_test::reference_scores(m_w->model(), 4, 32, "exact");
        m_ref = std::make_unique<plan::Planner>(m_table, plan::planner_options_for(*m_w->model(), m_table));
        m_w->setScores(m_table);
        QTRY_VERIFY(!m_w->isBusy());
        QVERIFY(panel()->isEnabled());
        QVERIFY(m_w->plans()->hasPlan());
    }

    void slider_starts_at_smallest_reachable_target_on_grid() {
        // The first k (target k/20) the reference planner accepts, found by trying.
        int kmin = -1;
        for (int k = 1; k <= 320 && kmin < 0; ++k) {
            try {
                m_ref->plan_for_target(k / 20.0);
                kmin = k;
            } catch (const Error&) {
            }
        }
        QVERIFY(kmin > 60 && kmin < 100);  // int4 with scales: a bit above 4 bits/weight
        QCOMPARE(panel()->slider()->minimum(), kmin);
        QCOMPARE(panel()->slider()->maximum(), 320);
        QCOMPARE(panel()->spinBox()->minimum(), kmin / 20.0);
        QCOMPARE(panel()->spinBox()->maximum(), 16.0);
        QCOMPARE(panel()->spinBox()->singleStep(), 0.05);
        QVERIFY(kmin / 20.0 >= m_ref->min_avg_bits() - 1e-12);
        QVERIFY((kmin - 1) / 20.0 < m_ref->min_avg_bits());
    }

    void slider_positions_match_independent_planner() {
        const int kmin = panel()->slider()->minimum();
        for (int k : {kmin, kmin + 1, kmin + 3, 95, 100, 110, 131, 165, 200, 250, 319, 320}) {
            if (k < kmin) continue;
            panel()->slider()->setValue(k);
            const double target = k / 20.0;
            const plan::Plan want = m_ref->plan_for_target(target);
            QVERIFY(m_w->plans()->hasPlan());
            const plan::Plan& got = m_w->plans()->plan();
            QVERIFY2(formats_of(got) == formats_of(want), qPrintable(QString("k=%1").arg(k)));
            QVERIFY(m_w->heatmap()->planFormats() == formats_of(want));
            QVERIFY2(want.avg_bits <= target + 1e-12, qPrintable(QString("k=%1").arg(k)));
            QCOMPARE(panel()->value("achieved"), QString::number(want.avg_bits, 'f', 4));
            QCOMPARE(panel()->value("kld"), QString::number(want.predicted_kld, 'g', 4));
            // The exported folder's size for this plan (the exporter's exact estimate; the export itself is checked
            // against it below).
            QCOMPARE(panel()->value("file_size"),
                     ui::format_bytes(exporter::estimate_export_size(*m_w->model(), want).total_bytes));
            if (k == 131) {
                const auto r = exporter::export_onnx(*m_w->model(), want, mixq_test::scratch("budget_panel_export") / "out");
                QCOMPARE(panel()->value("file_size"), ui::format_bytes(r.total_bytes));
            }
            QCOMPARE(panel()->value("units"), QString("%1 int4 \u00b7 %2 int8 \u00b7 %3 16-bit")
                                                  .arg(want.int4_units)
                                                  .arg(want.int8_units)
                                                  .arg(want.float_units));
            QCOMPARE(panel()->spinBox()->value(), target);
            QCOMPARE(m_w->frontierPlot()->currentPoint().x(), want.avg_bits);
            // The heatmap label of layers.3.down shows the plan's bits.
            QCOMPARE(m_w->heatmap()->cellText(3, 6), QString::number(want.find("layers.3.down")->format.bits));
        }
        panel()->slider()->setValue(100);
        mixq_test::save_shot(m_w.get(), "13_budget_5_bits.png");
    }

    void every_position_keeps_invariants() {
        const auto uniform = uniform_plans(m_table);
        double prev_kld = std::numeric_limits<double>::infinity(), prev_avg = 0;
        int changes = 0;
        const int builds = m_w->plans()->builds();
        for (int k = panel()->slider()->minimum(); k <= 320; ++k) {
            panel()->slider()->setValue(k);
            const double target = k / 20.0;
            const plan::Plan& p = m_w->plans()->plan();
            QVERIFY2(p.avg_bits <= target * (1 + 1e-12), qPrintable(QString("k=%1 avg %2").arg(k).arg(p.avg_bits)));
            QVERIFY2(p.predicted_kld <= prev_kld, qPrintable(QString("k=%1: KLD rose").arg(k)));
            QVERIFY(p.avg_bits >= prev_avg);
            if (p.predicted_kld < prev_kld) ++changes;
            prev_kld = p.predicted_kld;
            prev_avg = p.avg_bits;
            // Optimal: never worse than a uniform plan that fits the same budget.
            for (const auto& u : uniform)
                if (u.avg_bits <= target)
                    QVERIFY2(p.predicted_kld <= u.kld * (1 + 1e-12) + 1e-15,
                             qPrintable(QString("k=%1 worse than all %2").arg(k).arg(QString::fromStdString(u.format))));
        }
        QVERIFY(changes > 20);     // the slider really moves through many plans
        QCOMPARE(m_w->plans()->builds(), builds);  // each position was a lookup, no planner rebuilt
        QVERIFY(!m_w->isBusy());
        QCOMPARE(prev_kld, 0.0);   // 16 bits: everything float, nothing lost
    }

    void spin_box_snaps_to_grid_and_replans() {
        panel()->spinBox()->setValue(6.02);
        QCOMPARE(panel()->slider()->value(), 120);
        QCOMPARE(m_w->plans()->target(), 6.0);
        QVERIFY(formats_of(m_w->plans()->plan()) == formats_of(m_ref->plan_for_target(6.0)));
    }

    void frontier_plot_shows_frontier_and_uniform_references() {
        int positive = 0;
        for (const auto& f : m_ref->frontier()) positive += f.predicted_kld > 0;
        QCOMPARE(m_w->frontierPlot()->frontierPointCount(), positive);
        const auto uniform = uniform_plans(m_table);
        QCOMPARE(m_w->frontierPlot()->referenceCount(), int(uniform.size()));
        QStringList labels;
        for (int i = 0; i < m_w->frontierPlot()->referenceCount(); ++i) labels << m_w->frontierPlot()->referenceLabel(i);
        for (const auto& u : uniform) QVERIFY2(labels.contains("all " + QString::fromStdString(u.format)), qPrintable(labels.join(",")));
        const auto& refs = m_w->plans()->references();
        QCOMPARE(refs.size(), uniform.size());
        for (size_t i = 0; i < refs.size(); ++i) {
            QCOMPARE(refs[i].label, QString::fromStdString(uniform[i].format));
            QVERIFY(std::abs(refs[i].avg_bits - uniform[i].avg_bits) < 1e-12);
            QVERIFY(std::abs(refs[i].kld - uniform[i].kld) <= 1e-12 * uniform[i].kld);
            // The planner's own evaluation of the same uniform assignment agrees.
            const std::vector<quant::QuantFormat> all(m_table.units.size(), m_table.candidates[i]);
            const plan::Plan p = m_ref->plan_formats(all, plan::PlanSource::Import);
            QVERIFY(std::abs(p.avg_bits - uniform[i].avg_bits) < 1e-12);
        }
    }

    void presets_replan_and_slider_returns_to_custom() {
        QComboBox* box = panel()->presetBox();
        QCOMPARE(box->count(), 5);
        box->setCurrentText("k_quant_mixed");
        QCOMPARE(m_w->plans()->mode(), ui::PlanController::Mode::Preset);
        QVERIFY(formats_of(m_w->plans()->plan()) == formats_of(m_ref->plan_preset(plan::Preset::KQuantMixed)));
        QCOMPARE(panel()->value("source"), QString("preset k_quant_mixed"));
        // The reference scores are RTN-only, so k_quant_mixed picks formats nobody scored: the total is unknown,
        // shown as such (never 0), and the frontier gets no point for it.
        const plan::Plan& km = m_w->plans()->plan();
        QVERIFY(km.units_without_kld > 0);
        QVERIFY2(panel()->value("kld").startsWith(QString("unknown (%1 units unscored").arg(km.units_without_kld)),
                 qPrintable(panel()->value("kld")));
        QVERIFY(m_w->frontierPlot()->currentPoint().isNull());
        mixq_test::save_shot(m_w.get(), "14_preset_k_quant_mixed.png");

        // rtn: every unit int4 RTN; the table's int4-g32 candidate, so the all-int4-g32 average in closed form.
        box->setCurrentText("rtn");
        const plan::Plan& p = m_w->plans()->plan();
        QCOMPARE(p.int4_units, int(m_table.units.size()));
        QCOMPARE(p.int8_units + p.float_units, 0);
        QVERIFY(std::abs(p.avg_bits - uniform_plans(m_table).at(0).avg_bits) < 1e-12);
        QCOMPARE(m_table.candidates.at(0).name(), std::string("int4-g32"));

        panel()->slider()->setValue(110);
        QCOMPARE(box->currentText(), QString("custom"));
        QCOMPARE(m_w->plans()->mode(), ui::PlanController::Mode::Target);
        QVERIFY(formats_of(m_w->plans()->plan()) == formats_of(m_ref->plan_for_target(5.5)));
    }

    void fast_scores_are_labelled_as_an_estimate() {
        // Plans from the fast pass's scores say so beside their predicted KLD; exact scores drop the label.
        m_w->setScores(mixq_test::reference_scores(m_w->model(), 4, 32, "fast"));
        QTRY_VERIFY(!m_w->isBusy());
        QTRY_VERIFY2(panel()->value("kld").endsWith("(fast estimate)"), qPrintable(panel()->value("kld")));
        m_w->setScores(m_table);
        QTRY_VERIFY(!m_w->isBusy());
        QTRY_VERIFY2(!panel()->value("kld").contains("estimate"), qPrintable(panel()->value("kld")));
    }

    void cleanupTestCase() { m_w.reset(); }
};

QTEST_MAIN(TestBudgetPanel)
#include "test_budget_panel.moc"
