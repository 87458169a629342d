// SPDX-License-Identifier: MIT
// File > Export ONNX… end to end (offscreen): the dialog writes the export folder, "evaluate after export" fills
// the results table (baseline first, deltas = row differences), Cancel leaves no folder, "Evaluate current plan"
// adds a plan point; screenshots of the dialog and the results panel.
#include <QAction>
#include <QApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTableWidget>
#include <QtTest>

#include <QCheckBox>
#include <fstream>

#include <QMenu>
#include <QMenuBar>
#include <QFileInfo>
#include <cmath>
#include <filesystem>

#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/export_controller.h"
#include "ui/export_dialog.h"
#include "ui/job_runner.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/results_panel.h"
#include "ui/widget_capture.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"

using namespace mixq;
using mixq::ui::ExportController;
using mixq::ui::MainWindow;
using mixq::ui::ResultsPanel;
namespace fs = std::filesystem;

namespace {

QString shot_path(const QString& name) {
    const QString dir = QString(MIXQ_BINARY_DIR) + "/screenshots";
    QDir().mkpath(dir);
    return dir + "/" + name;
}

void save_png(QWidget* w, const QString& name) {
    const QString path = shot_path(name);
    ui::save_widget_png(w, path);
    QVERIFY2(!QImage(path).isNull(), qPrintable(path));
}

fs::path eval_data() { return fs::path(MIXQ_TEST_DATA_DIR) / "eval"; }

/// A window with the demo model open and a plan from fake scores.
bool prepare(MainWindow& w) {
    w.setAutoScore(false);
    w.setErrorDialogsEnabled(false);
    w.setRememberRecent(false);
    QSignalSpy loaded(&w, &MainWindow::modelLoaded);
    w.openDemoModel();
    if (!QTest::qWaitFor([&] { return loaded.count() == 1; }, 20000)) return false;
    w.setScores(mixq_test::fake_scores(*w.model()));
    return QTest::qWaitFor([&] { return !w.isBusy() && w.plans()->hasPlan(); }, 20000);
}

double cell(const ResultsPanel* p, int row, int col, int role) {
    return p->table()->item(row, col)->data(role).toDouble();
}

}  // namespace

class TestExportFlow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_export_flow"); }

    void export_dialog_writes_folder_and_evaluation_fills_results() {
        MainWindow w;
        w.resize(1360, 900);
        w.show();
        QVERIFY(prepare(w));
        auto* ctrl = w.findChild<ExportController*>();
        QVERIFY(ctrl);
        QAction* act = w.findChild<QAction*>("actionExportOnnx");
        QVERIFY(act && act->isEnabled());
        act->trigger();
        ui::ExportDialog* dlg = ctrl->dialog();
        QVERIFY(dlg && dlg->isVisible());
        // The plan summary names every width the plan uses: int4, int8 and 16-bit units.
        const QString formats = dlg->findChild<QLabel*>("exportPlanFormat")->text();
        const plan::Plan& shown = w.plans()->plan();
        QVERIFY(shown.int4_units + shown.int8_units > 0);
        QVERIFY2((shown.int4_units > 0) == formats.contains("int4"), qPrintable(formats));
        QVERIFY2((shown.int8_units > 0) == formats.contains("int8"), qPrintable(formats));
        QVERIFY2((shown.float_units > 0) == formats.contains("16-bit"), qPrintable(formats));
        const fs::path out = mixq_test::scratch("ui_export_flow") / "demo-onnx";
        dlg->setOutputDir(QString::fromStdString(out.string()));
        ui::ExportEvalSettings ev;
        ev.enabled = true;
        ev.mmlu_limit = 2;
        ev.piqa_limit = 2;
        ev.mmlu_dir = QString::fromStdString((eval_data() / "mmlu").string());
        ev.piqa_dir = QString::fromStdString((eval_data() / "piqa").string());
        dlg->setEvalSettings(ev);
        QApplication::processEvents();
        save_png(dlg, "10_export_dialog.png");

        QSignalSpy exported(ctrl, &ExportController::exportFinished);
        QSignalSpy evaluated(ctrl, &ExportController::evaluationFinished);
        QSignalSpy failed(w.jobs(), &ui::JobRunner::jobFailed);
        dlg->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok)->click();
        QVERIFY(w.jobs()->isBusy());
        // The window stays responsive: the budget slider re-plans while the export runs.
        QSlider* slider = w.budgetPanel()->slider();
        const double before = w.plans()->plan().avg_bits;
        slider->setValue(slider->maximum());
        QCOMPARE(w.plans()->target(), ui::BudgetPanel::target_of(slider->maximum()));
        QVERIFY(w.plans()->plan().avg_bits >= before);

        QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 1, 30000);
        for (const char* f : {"model.onnx", "model.onnx.data", "genai_config.json", "mixq_plan.json"})
            QVERIFY2(fs::is_regular_file(out / f) && fs::file_size(out / f) > 0, f);
        QTRY_COMPARE_WITH_TIMEOUT(evaluated.count(), 1, 30000);
        QCOMPARE(failed.count(), 0);

        ResultsPanel* res = ctrl->results();
        QCOMPARE(res->rowCount(), 2);
        QCOMPARE(res->rows()[0].kind, QString("baseline"));
        QCOMPARE(res->rows()[1].kind, QString("export"));
        QCOMPARE(cell(res, 0, ResultsPanel::AvgBits, ResultsPanel::kValueRole), 16.0);
        QVERIFY(cell(res, 1, ResultsPanel::AvgBits, ResultsPanel::kValueRole) < 16.0);
        QCOMPARE(qint64(cell(res, 0, ResultsPanel::Size, ResultsPanel::kValueRole)),
                 qint64(fs::file_size(mixq_test::demo_model() / "model.safetensors")));
        int checked = 0;
        for (int c = ResultsPanel::AvgBits; c < ResultsPanel::ColumnCount; ++c) {
            const double b = cell(res, 0, c, ResultsPanel::kValueRole), t = cell(res, 1, c, ResultsPanel::kValueRole);
            QVERIFY(std::isnan(cell(res, 0, c, ResultsPanel::kDeltaRole)));  // the baseline has no delta
            if (std::isnan(b) || std::isnan(t)) continue;
            QCOMPARE(cell(res, 1, c, ResultsPanel::kDeltaRole), t - b);
            ++checked;
        }
        QCOMPARE(checked, 5);  // bits, size, MMLU, PIQA acc, PIQA acc_norm (no perplexity, no speed)
        // 2 questions / items each: accuracies are multiples of 1/2.
        for (int c : {int(ResultsPanel::Mmlu), int(ResultsPanel::PiqaAcc), int(ResultsPanel::PiqaNorm)})
            for (int r : {0, 1}) {
                const double a = cell(res, r, c, ResultsPanel::kValueRole);
                QVERIFY(a >= 0.0 && a <= 1.0 && std::abs(a * 2 - std::round(a * 2)) < 1e-9);
            }
        w.findChild<QDockWidget*>("resultsDock")->raise();
        QApplication::processEvents();
        save_png(ctrl->results(), "11_results_panel.png");

        // Every dock is in View and can be toggled there; a result arriving while the Results dock is closed
        // brings it back.
        QMenu* view = nullptr;
        for (QAction* a : w.menuBar()->actions())
            if (a->menu() && a->text().contains("View")) view = a->menu();
        QVERIFY(view);
        QStringList toggles;
        for (QAction* a : view->actions())
            if (a->isEnabled() && a->isCheckable()) toggles << a->text().remove('&');
        QVERIFY2(toggles.filter(QRegularExpression("^Model")).size() == 1 && toggles.contains("Log") && toggles.contains("Results"),
                 qPrintable(toggles.join(", ")));
        auto* dock = w.findChild<QDockWidget*>("resultsDock");
        dock->close();
        QVERIFY(dock->isHidden());

        // Evaluate current plan: one more row of kind "plan", plotted on the accuracy-vs-bits chart, measured on
        // the questions of the dialog's limits (2 each) like the baseline, which the same call measured again.
        QTRY_VERIFY(!w.isBusy());
        ctrl->evaluatePlan();  // the data folders and limits were remembered by the dialog
        QTRY_COMPARE_WITH_TIMEOUT(evaluated.count(), 2, 30000);
        QCOMPARE(res->rowCount(), 3);
        QCOMPARE(res->rows()[2].kind, QString("plan"));
        QCOMPARE(res->rows()[2].avg_bits, w.plans()->plan().avg_bits);
        QVERIFY(!dock->isHidden());
        for (int r : {0, 1, 2}) {
            QCOMPARE(res->rows()[size_t(r)].n[0], 2.0);  // MMLU questions (a built-in default took 8)
            QCOMPARE(res->rows()[size_t(r)].n[1], 2.0);  // PIQA items
            QVERIFY(std::isfinite(res->rows()[size_t(r)].err[0]));
            QVERIFY2(res->table()->item(r, ResultsPanel::Mmlu)->text().contains("n 2"),
                     qPrintable(res->table()->item(r, ResultsPanel::Mmlu)->text()));
            QVERIFY(res->table()->item(r, ResultsPanel::Mmlu)->text().contains(QChar(0x00b1)));
        }
        QCOMPARE(res->rows()[2].eval_key, res->rows()[0].eval_key);
        QVERIFY(!std::isnan(cell(res, 2, ResultsPanel::Mmlu, ResultsPanel::kDeltaRole)));
        save_png(ctrl->results(), "12_results_plan_point.png");

        // Other limits: the plan is compared with a baseline measured on those questions (a second baseline row),
        // never with the first one.
        ui::ExportEvalSettings one = ev;
        one.mmlu_limit = 1;
        ctrl->evaluatePlan(one);
        QTRY_COMPARE_WITH_TIMEOUT(evaluated.count(), 3, 30000);
        QCOMPARE(res->rowCount(), 5);
        QCOMPARE(res->rows()[0].kind, QString("baseline"));
        QCOMPARE(res->rows()[1].kind, QString("baseline"));
        QCOMPARE(res->rows()[4].n[0], 1.0);
        QCOMPARE(res->baselineFor(res->rows()[4])->n[0], 1.0);
        QCOMPARE(cell(res, 4, ResultsPanel::Mmlu, ResultsPanel::kDeltaRole),
                 res->rows()[4].metrics[0] - res->baselineFor(res->rows()[4])->metrics[0]);
        // Rows can be copied (CSV with n and stderr) and deleted; deletion persists.
        const QString csv = res->csv({4});
        QVERIFY2(csv.startsWith("model,kind,avg_bits") && csv.contains("mmlu_n") && csv.count('\n') == 2, qPrintable(csv));
        res->removeRows({1, 4});
        QCOMPARE(res->rowCount(), 3);

        // Results persist per model content hash: opening the model again restores the same three rows.
        const std::vector<ui::ResultRow> before_reopen = res->rows();
        QVERIFY(QFileInfo::exists(ctrl->resultsStore().pathFor(w.model()->content_hash())));
        QTRY_VERIFY(!w.isBusy());
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        w.openModel(QString::fromStdString(mixq_test::demo_model().string()));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 30000);
        QCOMPARE(res->rowCount(), 3);
        for (int r = 0; r < 3; ++r) {
            QCOMPARE(res->rows()[size_t(r)].kind, before_reopen[size_t(r)].kind);
            QCOMPARE(res->rows()[size_t(r)].label, before_reopen[size_t(r)].label);
            QCOMPARE(res->rows()[size_t(r)].avg_bits, before_reopen[size_t(r)].avg_bits);
            QCOMPARE(res->rows()[size_t(r)].eval_key, before_reopen[size_t(r)].eval_key);
            QCOMPARE(res->rows()[size_t(r)].n[0], before_reopen[size_t(r)].n[0]);
            for (int m = 0; m < 6; ++m) {
                const double a = res->rows()[size_t(r)].metrics[m], b = before_reopen[size_t(r)].metrics[m];
                QVERIFY((std::isnan(a) && std::isnan(b)) || a == b);
            }
        }
    }

    void export_into_a_folder_with_other_files_asks_for_the_check_box() {
        // A folder holding the user's files: refused (the message names the dialog's check box, the files stay);
        // with the box ticked the export is written and the user's files are kept byte for byte.
        MainWindow w;
        QVERIFY(prepare(w));
        auto* ctrl = w.findChild<ExportController*>();
        w.findChild<QAction*>("actionExportOnnx")->trigger();
        ui::ExportDialog* dlg = ctrl->dialog();
        QVERIFY(dlg);
        const fs::path out = mixq_test::scratch("ui_export_overwrite") / "mine";
        fs::create_directories(out / "sub");
        { std::ofstream(out / "notes.txt") << "my notes\n"; }
        dlg->setOutputDir(QString::fromStdString(out.string()));
        auto* box = dlg->findChild<QCheckBox*>("exportOverwrite");
        QVERIFY(box && !box->isChecked());
        QSignalSpy failed(w.jobs(), &ui::JobRunner::jobFailed);
        QSignalSpy exported(ctrl, &ExportController::exportFinished);
        ctrl->startExport(QString::fromStdString(out.string()), dlg->options(), {});
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 30000);
        const QString msg = failed.at(0).at(1).toString();
        QVERIFY2(msg.contains("notes.txt") && msg.contains("export dialog") && !msg.contains("--overwrite"), qPrintable(msg));
        QVERIFY(!fs::exists(out / "model.onnx") && fs::exists(out / "notes.txt") && fs::is_directory(out / "sub"));
        QTRY_VERIFY(!w.isBusy());
        box->setChecked(true);
        ctrl->startExport(QString::fromStdString(out.string()), dlg->options(), {});
        QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 1, 30000);
        QVERIFY(fs::is_regular_file(out / "model.onnx") && fs::is_directory(out / "sub"));
        QCOMPARE(QString::fromStdString(mixq_test::read_text(out / "notes.txt")), QString("my notes\n"));
    }

    void cancelled_export_leaves_no_folder() {
        MainWindow w;
        QVERIFY(prepare(w));
        auto* ctrl = w.findChild<ExportController*>();
        const fs::path parent = mixq_test::scratch("ui_export_cancel");
        const fs::path out = parent / "cancelled";
        QSignalSpy cancelled(w.jobs(), &ui::JobRunner::jobCancelled);
        QSignalSpy exported(ctrl, &ExportController::exportFinished);
        ctrl->startExport(QString::fromStdString(out.string()), {}, {});
        w.jobs()->cancel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, 30000);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(exported.count(), 0);
        QVERIFY(!fs::exists(out));
        QVERIFY(fs::is_empty(parent));  // no temporary folder left behind either
    }
};

QTEST_MAIN(TestExportFlow)
#include "test_export_flow.moc"
