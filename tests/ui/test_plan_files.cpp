// SPDX-License-Identifier: MIT
// File > Save Plan / Load Plan: a saved plan.json reads back with core's parser as the plan on screen; loading it
// after moving the slider brings its formats and pins back; a plan made for another model (a synthetic one
// generated here) is refused with core's one-line reason in a non-blocking dialog, leaving the plan alone.
#include <QAction>
#include <QMessageBox>
#include <QSignalSpy>
#include <QSlider>

#include "core/common/error.h"
#include "core/io/model.h"
#include "core/io/synthetic_model.h"
#include "core/plan/model_check.h"
#include "core/plan/plan_json.h"
#include "core/plan/planner.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::MainWindow;

namespace {
std::map<std::string, std::string> formats_of(const plan::Plan& p) {
    std::map<std::string, std::string> m;
    for (const auto& u : p.units) m[u.name] = u.format.name();
    return m;
}

std::unique_ptr<MainWindow> scored_window(const score::ScoreTable* table = nullptr) {
    auto w = std::make_unique<MainWindow>();
    w->setErrorDialogsEnabled(false);
    w->setRememberRecent(false);
    w->setAutoScore(false);
    w->resize(1440, 900);
    w->show();
    QSignalSpy loaded(w.get(), &MainWindow::modelLoaded);
    w->openDemoModel();
    if (!QTest::qWaitFor([&] { return loaded.count() == 1; }, 10000)) return nullptr;
    if (table) {
        w->setScores(*table);
        if (!QTest::qWaitFor([&] { return !w->isBusy(); }, 10000)) return nullptr;
    }
    return w;
}
}  // namespace

class TestPlanFiles : public QObject {
    Q_OBJECT
    score::ScoreTable m_table;

private slots:
    void initTestCase() {
        mixq_test::isolate_user_state("ui_plan_files");
        m_table = mixq_test::reference_scores(io::Model::open(mixq_test::demo_model()), 4, 32, "exact");
    }

    void save_then_load_restores_formats_and_pins() {
        auto w = scored_window(&m_table);
        QVERIFY(w);
        auto* save = w->findChild<QAction*>("actionSavePlan");
        QVERIFY(save && save->isEnabled());
        QVERIFY(w->findChild<QAction*>("actionLoadPlan"));
        w->budgetPanel()->slider()->setValue(110);  // 5.5 bits
        w->plans()->setPin("layers.4.down", "fp16");
        QTRY_VERIFY(!w->isBusy());
        const plan::Plan shown = w->plans()->plan();
        QCOMPARE(shown.find("layers.4.down")->format.name(), std::string("fp16"));

        const auto dir = mixq_test::scratch("ui_plan_files_roundtrip");
        const QString path = QString::fromStdString((dir / "plan.json").string());
        QVERIFY(w->savePlan(path));
        const plan::Plan read = plan::load_plan(path.toStdString());  // core's validating parser
        QVERIFY(formats_of(read) == formats_of(shown));
        QCOMPARE(read.model_hash, w->model()->content_hash());
        QCOMPARE(read.avg_bits, shown.avg_bits);
        QCOMPARE(read.target_bits, 5.5);
        QCOMPARE(read.pins.at("layers.4.down"), std::string("fp16"));
        QVERIFY(read.avg_bits <= 5.5);

        // Elsewhere on the slider, without pins: a different plan.
        w->plans()->clearPins();
        QTRY_VERIFY(!w->isBusy());
        w->budgetPanel()->slider()->setValue(170);
        QVERIFY(formats_of(w->plans()->plan()) != formats_of(shown));

        QSignalSpy loadedPlan(w.get(), &MainWindow::planLoaded);
        QVERIFY(w->loadPlan(path));
        QTRY_VERIFY(!w->isBusy());  // its pin rebuilt the planner
        QCOMPARE(loadedPlan.count(), 1);
        QCOMPARE(w->plans()->mode(), ui::PlanController::Mode::Loaded);
        QVERIFY(formats_of(w->plans()->plan()) == formats_of(read));
        QCOMPARE(w->plans()->plan().avg_bits, read.avg_bits);
        QCOMPARE(w->plans()->pins().at("layers.4.down"), std::string("fp16"));
        QVERIFY(w->heatmap()->planFormats() == formats_of(read));
        QCOMPARE(w->heatmap()->cellText(4, 6), QString("16"));
        QVERIFY(w->heatmap()->cellPinned(4, 6));
        QCOMPARE(w->budgetPanel()->value("source"), QString("loaded: plan.json"));
        QCOMPARE(w->budgetPanel()->value("achieved"), QString::number(read.avg_bits, 'f', 4));
    }

    void plan_of_another_model_is_refused_in_a_dialog() {
        // A plan made for a different (synthetic) model, with core alone.
        const auto dir = mixq_test::scratch("ui_plan_files_other");
        io::write_synthetic_model(dir / "model", io::SyntheticSpec::preset("tiny"));
        auto other = io::Model::open(dir / "model");
        const auto other_scores = mixq_test::fake_scores(*other);
        const plan::Planner planner(other_scores, plan::planner_options_for(*other, other_scores));
        const std::filesystem::path path = dir / "other_plan.json";
        plan::save_plan(planner.plan_preset(plan::Preset::KQuantMixed), path);

        auto w = scored_window(&m_table);
        QVERIFY(w);
        w->setErrorDialogsEnabled(true);
        const plan::Plan before = w->plans()->plan();
        std::string want;
        try {
            plan::check_plan_for_model(plan::load_plan(path), *w->model(), path.string());
        } catch (const Error& e) {
            want = e.what();
        }
        QVERIFY(!want.empty());
        QSignalSpy errors(w.get(), &MainWindow::errorReported);
        QVERIFY(!w->loadPlan(QString::fromStdString(path.string())));
        QCOMPARE(errors.count(), 1);
        const QString msg = errors.at(0).at(1).toString();
        QCOMPARE(msg, QString::fromStdString(want));
        QVERIFY2(!msg.contains('\n'), qPrintable(msg));
        QVERIFY(msg.contains(QString::fromStdString(other->content_hash())));
        auto* box = w->findChild<QMessageBox*>("errorDialog");
        QVERIFY(box);
        QTRY_VERIFY(box->isVisible());
        QCOMPARE(box->text(), msg);
        QCOMPARE(box->windowModality(), Qt::WindowModal);  // open(): loadPlan returned while it shows
        mixq_test::save_shot(w.get(), "16_plan_for_other_model.png");
        box->close();
        QCOMPARE(w->plans()->mode(), ui::PlanController::Mode::Target);
        QVERIFY(formats_of(w->plans()->plan()) == formats_of(before));

        // A damaged file: core's parser names the problem, also in one line.
        const auto bad = dir / "broken.json";
        std::ofstream(bad) << "{\"schema\": \"mixq.plan/1\", \"units\": [";
        QVERIFY(!w->loadPlan(QString::fromStdString(bad.string())));
        QCOMPARE(errors.count(), 2);
        QVERIFY(errors.at(1).at(1).toString().startsWith(QString::fromStdString(bad.string())));
        QVERIFY(!errors.at(1).at(1).toString().contains('\n'));
    }

    void no_scores_no_plan_to_save_or_load() {
        auto w = scored_window();
        QVERIFY(w);
        QVERIFY(!w->findChild<QAction*>("actionSavePlan")->isEnabled());
        QSignalSpy errors(w.get(), &MainWindow::errorReported);
        const auto dir = mixq_test::scratch("ui_plan_files_noscores");
        QVERIFY(!w->savePlan(QString::fromStdString((dir / "p.json").string())));
        QVERIFY(!QFile::exists(QString::fromStdString((dir / "p.json").string())));
        // A valid plan for this model still needs scores before it can be shown.
        const plan::Planner planner(m_table, plan::planner_options_for(*w->model(), m_table));
        plan::save_plan(planner.plan_for_target(6.0), dir / "ok.json");
        QVERIFY(!w->loadPlan(QString::fromStdString((dir / "ok.json").string())));
        QCOMPARE(errors.count(), 2);
        QVERIFY(errors.at(1).at(1).toString().contains("no scores yet"));
    }
};

QTEST_MAIN(TestPlanFiles)
#include "test_plan_files.moc"
