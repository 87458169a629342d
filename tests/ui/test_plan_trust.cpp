// SPDX-License-Identifier: MIT
// The numbers a user decides by (issue 19 items 5, 6, 11), offscreen: a plan from fast scores is labelled provisional
// on the frontier and budget panel and carries scores_mode "fast" into plan.json and its result row; a rescore or a
// failed scoring clears heatmap, plan and frontier together (never the old plan beside an empty heatmap); a device
// that cannot be used is greyed in Settings with the reason; "Evaluate current plan" is disabled while scoring runs;
// scoring settings are per model (item 12); the status bar learns memory mode and device from a typed callback;
// streamed units and evaluation results live in the session, and the frontier draws each evaluated plan's measured KLD from them.
#include <QAction>
#include <QComboBox>
#include <QFileInfo>
#include <QLabel>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/backend/compute_backend.h"
#include "qcustomplot.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/eval_request.h"
#include "ui/export_controller.h"
#include "ui/frontier_plot.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/results_model.h"
#include "ui/results_panel.h"
#include "ui/scoring_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui/settings_dialog.h"
#include "ui/studio_session.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"

using namespace mixq;
using ui::MainWindow;

namespace {

bool open_demo(MainWindow& w) {
    w.setAutoScore(false);
    w.setErrorDialogsEnabled(false);
    w.setRememberRecent(false);
    QSignalSpy loaded(&w, &MainWindow::modelLoaded);
    w.openDemoModel();
    return QTest::qWaitFor([&] { return loaded.count() == 1 && !w.isBusy(); }, 20000);
}

bool planned(MainWindow& w) { return QTest::qWaitFor([&] { return !w.isBusy() && w.plans()->hasPlan(); }, 20000); }

}  // namespace

class TestPlanTrust : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_plan_trust"); }

    void fast_scores_are_provisional_everywhere() {
        MainWindow w;
        QVERIFY(open_demo(w));
        score::ScoreTable fast = mixq_test::fake_scores(*w.model());
        fast.mode = "fast";
        w.setScores(fast);
        QVERIFY(planned(w));
        // One score table: the window and the planner read the session's (not copies of their own).
        QVERIFY(w.session()->scores());
        QCOMPARE(w.scores(), w.session()->scores().get());
        QCOMPARE(w.plans()->table().get(), w.session()->scores().get());
        QCOMPARE(w.heatmap()->scoreTable().get(), w.session()->scores().get());
        QCOMPARE(w.plans(), w.session()->plans());
        QVERIFY(w.frontierPlot()->isProvisional());
        QVERIFY2(w.frontierPlot()->titleText().contains("provisional"), qPrintable(w.frontierPlot()->titleText()));
        QVERIFY2(w.budgetPanel()->value("source").contains("provisional"), qPrintable(w.budgetPanel()->value("source")));
        QVERIFY2(w.heatmap()->statusText().contains("provisional"), qPrintable(w.heatmap()->statusText()));
        // The plan records its score kind: plan.json says so.
        QCOMPARE(QString::fromStdString(w.plans()->plan().score_mode), QString("fast"));
        const auto path = mixq_test::scratch("ui_plan_trust") / "fast_plan.json";
        QVERIFY(w.savePlan(QString::fromStdString(path.string())));
        std::stringstream text;
        text << std::ifstream(path).rdbuf();
        QVERIFY2(text.str().find("\"scores_mode\": \"fast\"") != std::string::npos, text.str().c_str());

        // Exact scores replace them: no longer provisional.
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        QVERIFY(!w.frontierPlot()->isProvisional());
        QVERIFY(!w.budgetPanel()->value("source").contains("provisional"));
        QVERIFY(!w.heatmap()->statusText().contains("provisional"));
        QCOMPARE(QString::fromStdString(w.plans()->plan().score_mode), QString("exact"));
    }

    void failed_rescore_clears_every_view_together() {
        MainWindow w;
        QVERIFY(open_demo(w));
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        QVERIFY(w.frontierPlot()->frontierPointCount() > 0);
        // A device that cannot be used (no accelerator is installed in the tests): the scoring job fails.
        QVERIFY(!backend::accelerator_usable(nullptr));
        ui::ScoringSettings s = mixq_test::small_settings();
        s.device = "cuda";
        w.scoring()->setSettings(s, false);
        QSignalSpy failed(w.jobs(), &ui::JobRunner::jobFailed);
        w.scoring()->scoreModel();
        // Restart: heatmap, plan and frontier go together, at once.
        QCOMPARE(w.heatmap()->scoredUnitCount(), 0);
        QVERIFY(!w.plans()->hasPlan());
        QCOMPARE(w.frontierPlot()->frontierPointCount(), 0);
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 20000);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(w.heatmap()->scoredUnitCount(), 0);
        QVERIFY(!w.plans()->hasPlan());
        QCOMPARE(w.frontierPlot()->frontierPointCount(), 0);
        QVERIFY2(w.heatmap()->statusText().contains("failed"), qPrintable(w.heatmap()->statusText()));
    }

    void settings_offer_only_usable_devices() {
        ui::ScoringSettings s;
        s.device = "cuda";
        ui::SettingsDialog dlg(s);
        auto* model = qobject_cast<QStandardItemModel*>(dlg.deviceBox()->model());
        QVERIFY(model);
        const int cuda = dlg.deviceBox()->findText("cuda");
        QVERIFY(cuda >= 0);
        QVERIFY(!(model->item(cuda)->flags() & Qt::ItemIsEnabled));  // greyed: not offered
        QVERIFY(!model->item(cuda)->toolTip().isEmpty());            // with the reason
        QVERIFY(!dlg.deviceNote()->isHidden());
        QVERIFY2(dlg.deviceNote()->text().contains("cuda"), qPrintable(dlg.deviceNote()->text()));
        QCOMPARE(dlg.settings().device, QString("auto"));  // a stored unusable choice is not shown as chosen
        QVERIFY(model->item(dlg.deviceBox()->findText("cpu"))->flags() & Qt::ItemIsEnabled);
    }

    void scoring_settings_are_per_model() {
        // A second model: the demo with one more byte in config.json (another content hash).
        namespace fs = std::filesystem;
        const fs::path other = mixq_test::scratch("ui_plan_trust_other") / "demo-copy";
        fs::copy(mixq_test::demo_model(), other, fs::copy_options::recursive);
        std::ofstream(other / "config.json", std::ios::app) << "\n";
        MainWindow w;
        auto open = [&](const fs::path& dir) {
            QSignalSpy loaded(&w, &MainWindow::modelLoaded);
            w.openModel(QString::fromStdString(dir.string()));
            return QTest::qWaitFor([&] { return loaded.count() == 1 && !w.isBusy(); }, 20000);
        };
        QVERIFY(open_demo(w));
        const ui::ScoringSettings a = mixq_test::small_settings(4, 32);
        w.scoring()->setSettings(a, true);  // as Settings > Scoring does: for this model, and the default
        QVERIFY(open(other));
        QCOMPARE(w.scoring()->settings(), a);  // a new model takes the default
        ui::ScoringSettings b = mixq_test::small_settings(5, 40);
        b.candidates = "int4-g64";
        w.scoring()->setSettings(b, true);
        // The demo keeps its own settings (it was not rescored by b), the other model its own.
        QVERIFY(open(mixq_test::demo_model()));
        QCOMPARE(w.scoring()->settings(), a);
        QVERIFY(open(other));
        QCOMPARE(w.scoring()->settings(), b);
        QCOMPARE(ui::ScoringSettings::load(), b);  // the default for models not seen yet
    }

    void evaluate_plan_waits_for_scoring() {
        MainWindow w;
        QVERIFY(open_demo(w));
        auto* ctrl = w.findChild<ui::ExportController*>();
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        QVERIFY(ctrl->evaluatePlanAction()->isEnabled());
        w.scoring()->setSettings(mixq_test::small_settings(2, 16), false);
        QSignalSpy finished(w.scoring(), &ui::ScoringController::scoringFinished);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        w.scoring()->scoreModel();
        QVERIFY(w.scoring()->isScoring());
        // Disabled while scoring runs (the plan on screen is about to change), with the reason; a direct call is
        // refused in one line instead of queueing the old plan silently.
        QVERIFY(!ctrl->evaluatePlanAction()->isEnabled());
        QVERIFY(ctrl->evaluatePlanAction()->toolTip().contains("scoring"));
        ctrl->evaluatePlan();
        QCOMPARE(errors.count(), 1);
        QVERIFY2(errors.at(0).at(1).toString().contains("scoring"), qPrintable(errors.at(0).at(1).toString()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        QTRY_VERIFY(!w.isBusy() && w.plans()->hasPlan());
        QVERIFY(ctrl->evaluatePlanAction()->isEnabled());
        // Memory mode and device came through the scorer's typed callback (ScoreOptions::on_placement).
        const QString memory = w.jobStatusBar()->memoryLabel()->text();
        QVERIFY2(memory.startsWith("memory: ") && !memory.endsWith(QChar(0x2026)), qPrintable(memory));
        QVERIFY2(w.jobStatusBar()->deviceLabel()->toolTip().startsWith("scoring on cpu; memory mode"),
                 qPrintable(w.jobStatusBar()->deviceLabel()->toolTip()));
    }

    void measured_kld_is_drawn_on_the_frontier_from_the_sessions_results() {
        MainWindow w;
        QVERIFY(open_demo(w));
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        auto* frontier = w.findChild<ui::FrontierPlot*>();
        auto* ctrl = w.findChild<ui::ExportController*>();
        QVERIFY(frontier && ctrl);
        w.session()->results()->clear();  // rows another test stored for the demo model
        // One list: the Results dock views the session's rows.
        QCOMPARE(ctrl->results()->model(), w.session()->results());
        QCOMPARE(frontier->measuredPointCount(), 0);
        const int legend_before = frontier->plot()->legend->itemCount();
        auto row = [](const char* kind, double bits, double measured, double predicted) {
            ui::ResultRow r;
            r.label = kind;
            r.kind = kind;
            r.avg_bits = bits;
            r.measured_kld = measured;
            r.predicted_kld = predicted;
            return r;
        };
        ui::ResultsModel* results = w.session()->results();
        results->add(row("baseline", 16.0, ui::ResultRow::kNone, ui::ResultRow::kNone));  // no point
        results->add(row("plan", 5.0, 0.010, 0.008));    // 1.25x: agrees
        results->add(row("export", 4.5, 0.050, 0.020));  // 2.5x: flagged
        results->add(row("plan", 6.0, 0.004, ui::ResultRow::kNone));  // prediction unknown: point, no link
        QCOMPARE(frontier->measuredPointCount(), 3);
        QCOMPARE(frontier->flaggedPointCount(), 1);
        QCOMPARE(frontier->plot()->legend->itemCount(), legend_before + 2);  // both series now in the legend
        // Every measured point lies inside the plot's fixed ranges (the range takes them in).
        const QCPRange xr = frontier->plot()->xAxis->range(), yr = frontier->plot()->yAxis->range();
        for (double kld : {0.010, 0.050, 0.004}) QVERIFY(yr.contains(kld));
        for (double bits : {5.0, 4.5, 6.0}) QVERIFY(xr.contains(bits));
        // The dashed links join measurement and prediction for the two rows that have one.
        int links = 0;
        for (int i = 0; i < frontier->plot()->itemCount(); ++i)
            if (auto* line = qobject_cast<QCPItemLine*>(frontier->plot()->item(i))) {
                ++links;
                QCOMPARE(line->start->coords().x(), line->end->coords().x());
            }
        QCOMPARE(links, 2);
        // Deleting the flagged row in the Results table takes its point off the frontier.
        ctrl->results()->removeRows({2});
        QCOMPARE(results->size(), 3);
        QCOMPARE(frontier->flaggedPointCount(), 0);
        QCOMPARE(frontier->measuredPointCount(), 2);
        QCOMPARE(frontier->plot()->legend->itemCount(), legend_before + 1);
        // New scores clear the frontier, not the measurements of this model.
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        QCOMPARE(frontier->measuredPointCount(), 2);
    }

    void streamed_units_are_held_once_by_the_session() {
        MainWindow w;
        QVERIFY(open_demo(w));
        QCOMPARE(w.heatmap()->scoreSource(), &w.session()->liveScores());
        const score::ScoreTable fake = mixq_test::fake_scores(*w.model());
        w.beginScores(fake.candidates, fake.scale_bits);
        QCOMPARE(w.session()->liveScores().scoredUnitCount(), 0);
        w.addUnitScore(fake.units[0]);
        w.addUnitScore(fake.units[1]);
        // The heatmap shows what the session holds (not a copy of its own).
        QCOMPARE(w.session()->liveScores().scoredUnitCount(), 2);
        QCOMPARE(w.heatmap()->scoredUnitCount(), 2);
        QVERIFY(w.session()->liveScores().find(fake.units[1].name));
        QVERIFY(!w.session()->scores());  // no whole table yet: nothing to plan from
        w.setScores(fake);
        QVERIFY(planned(w));
        // The whole table replaces the streamed units, and session, heatmap and planner share that one object.
        QVERIFY(!w.session()->liveScores().streaming());
        QCOMPARE(w.session()->liveScores().table().get(), w.session()->scores().get());
        QCOMPARE(w.heatmap()->scoreTable().get(), w.session()->scores().get());
        QCOMPARE(w.plans()->table().get(), w.session()->scores().get());
        QCOMPARE(w.heatmap()->scoredUnitCount(), int(fake.units.size()));
    }

    void app_evaluation_measures_the_plans_kld_on_the_shipped_heldout_text() {
        MainWindow w;
        QVERIFY(open_demo(w));
        w.setScores(mixq_test::fake_scores(*w.model()));
        QVERIFY(planned(w));
        // Fresh settings: the shipped held-out text is the perplexity text, so a plan's measured KLD exists.
        ui::ExportEvalSettings ev = ui::remembered_eval_settings();
        QVERIFY2(ev.ppl_text.endsWith("eval-data/text/heldout.txt"), qPrintable(ev.ppl_text));
        QVERIFY(QFileInfo(ev.ppl_text).isFile());
        ev.mmlu_limit = 1;
        ev.piqa_limit = 1;
        auto* ctrl = w.findChild<ui::ExportController*>();
        w.session()->results()->clear();  // rows another test stored for the demo model
        QSignalSpy evaluated(ctrl, &ui::ExportController::evaluationFinished);
        ctrl->evaluatePlan(ev);
        QTRY_COMPARE_WITH_TIMEOUT(evaluated.count(), 1, 60000);
        const auto& rows = w.session()->results()->rows();
        QCOMPARE(rows.size(), size_t(2));
        QCOMPARE(rows[1].kind, QString("plan"));
        QVERIFY2(rows[1].measured_kld > 0 && std::isfinite(rows[1].measured_kld), qPrintable(QString::number(rows[1].measured_kld)));
        QCOMPARE(rows[1].predicted_kld, w.plans()->plan().predicted_kld);
        QCOMPARE(w.findChild<ui::FrontierPlot*>()->measuredPointCount(), 1);
    }
};

QTEST_MAIN(TestPlanTrust)
#include "test_plan_trust.moc"
