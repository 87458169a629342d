// SPDX-License-Identifier: MIT
// The GUI's command line and the --screenshot flow: option parsing, and ScreenshotSession waiting for the
// loading job before writing a PNG of the window's size (or failing with the loader's reason).
#include <QImage>
#include <QSettings>
#include <QSignalSpy>

#include "core/common/error.h"
#include "core/io/model.h"
#include "test_support.h"
#include "ui/main_window.h"
#include "ui/screenshot_session.h"
#include "ui/screenshot_views.h"
#include "ui/studio_options.h"
#include "ui/budget_panel.h"
#include "ui/scoring_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui_test_env.h"

using namespace mixq;

class TestStudioApp : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        // Keep the user's real settings (recent models) and score cache untouched.
        mixq_test::isolate_user_state("ui_studio_app");
    }

    void parses_command_line() {
        auto o = ui::parse_studio_args({"mixq-studio", "resources/demo-model", "--screenshot", "/tmp/x.png"});
        QCOMPARE(o.model, QString("resources/demo-model"));
        QCOMPARE(o.screenshot, QString("/tmp/x.png"));
        QVERIFY(o.scores.isEmpty());
        o = ui::parse_studio_args({"mixq-studio", "--scores=s.json"});
        QCOMPARE(o.scores, QString("s.json"));
        QVERIFY(o.model.isEmpty());
        QVERIFY(ui::parse_studio_args({"mixq-studio", "--help"}).help);
        // Qt's own options pass through untouched.
        o = ui::parse_studio_args({"mixq-studio", "-platform", "offscreen", "m", "-reverse"});
        QCOMPARE(o.model, QString("m"));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--bogus"}));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "a", "b"}));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--screenshot"}));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--screenshot", "x.jpg"}));
        // One screenshot per view, at a given size (scripts/screenshots.sh).
        o = ui::parse_studio_args({"mixq-studio", "--screenshot", "x.png", "--view", "settings", "--size", "1024x700"});
        QCOMPARE(o.view, QString("settings"));
        QCOMPARE(o.width, 1024);
        QCOMPARE(o.height, 700);
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--screenshot", "x.png", "--view", "nope"}));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--screenshot", "x.png", "--size", "10x10"}));
        QVERIFY_THROWS_EXCEPTION(Error, ui::parse_studio_args({"mixq-studio", "--view", "main"}));
    }

    void screenshot_waits_for_loading_and_scoring_then_writes_png() {
        ui::MainWindow w;
        w.scoring()->setSettings(mixq_test::small_settings(), false);
        w.setErrorDialogsEnabled(false);
        w.resize(1200, 800);
        w.show();
        const auto dir = mixq_test::scratch("ui_screenshot");
        const QString png = QString::fromStdString((dir / "shot.png").string());
        QSignalSpy loaded(&w, &ui::MainWindow::modelLoaded);
        w.openDemoModel();
        auto* session = new ui::ScreenshotSession(&w, png);
        QSignalSpy done(session, &ui::ScreenshotSession::finished);
        session->start();
        // Load + score + plan of the demo model: ~2 s in Release, ~40 s under ASan+UBSan (QTRY's default is 5 s).
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, 180000);
        QCOMPARE(done.at(0).at(0).toInt(), 0);
        QCOMPARE(loaded.count(), 1);  // the model was in before the grab
        // ... and scored and planned: every unit has a value and a plan label, the budget panel is live.
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->mode, std::string("exact"));
        const auto& units = w.heatmap()->grid().units();
        QCOMPARE(units.size(), w.model()->layout().units.size());
        for (const auto& u : units) {
            const int row = w.heatmap()->grid().row_of(u);
            QVERIFY2(std::isfinite(w.heatmap()->cellValue(row, u.col_begin)), u.name.c_str());
            QVERIFY2(!w.heatmap()->cellText(row, u.col_begin).isEmpty(), u.name.c_str());
        }
        QVERIFY(w.budgetPanel()->isEnabled());
        const QImage img(png);
        QVERIFY(!img.isNull());
        QCOMPARE(img.size(), w.size() * w.devicePixelRatioF());

        // --view settings: the session grabs the dialog that view opens, not the window.
        const QString dialog_png = QString::fromStdString((dir / "settings.png").string());
        auto* views = new ui::ScreenshotSession(&w, dialog_png);
        QWidget* grabbed = nullptr;
        views->setPrepare([&] { return grabbed = ui::prepare_screenshot_view(w, "settings"); });
        QSignalSpy views_done(views, &ui::ScreenshotSession::finished);
        views->start();
        QTRY_COMPARE_WITH_TIMEOUT(views_done.count(), 1, 20000);
        QCOMPARE(views_done.at(0).at(0).toInt(), 0);
        QVERIFY(grabbed && grabbed != &w && grabbed->objectName() == "settingsDialog");
        QCOMPARE(QImage(dialog_png).size(), grabbed->size() * grabbed->devicePixelRatioF());
    }

    void screenshot_fails_with_loader_reason() {
        ui::MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.show();
        const auto dir = mixq_test::scratch("ui_screenshot_bad");
        std::string reason;
        try {
            io::Model::open(dir);
        } catch (const Error& e) {
            reason = e.what();
        }
        QVERIFY(!reason.empty());
        w.openModel(QString::fromStdString(dir.string()));
        const QString png = QString::fromStdString((dir / "shot.png").string());
        auto* session = new ui::ScreenshotSession(&w, png);
        QSignalSpy done(session, &ui::ScreenshotSession::finished);
        session->start();
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, 60000);
        QCOMPARE(done.at(0).at(0).toInt(), 1);
        QVERIFY2(done.at(0).at(1).toString().contains(QString::fromStdString(reason)),
                 qPrintable(done.at(0).at(1).toString()));
        QVERIFY(!QFile::exists(png));
    }
};

QTEST_MAIN(TestStudioApp)
#include "test_studio_app.moc"
