// SPDX-License-Identifier: MIT
// MainWindow end to end (offscreen): dropping the demo model folder loads it and fills the summary with the
// numbers in its config.json; invalid folders report the loader's one-line reason without a blocking dialog;
// scores files load into the heatmap; the status bar's Cancel ends a long job; recent models are remembered;
// screenshots of the main states go to <build>/screenshots.
#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMenu>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QUrl>
#include <chrono>
#include <thread>

#include "core/common/error.h"
#include "test_errors.h"
#include "test_support.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/log_panel.h"
#include "ui/main_window.h"
#include "ui/model_summary_panel.h"
#include "ui/recent_models.h"
#include "ui/sensitivity_heatmap.h"
#include <QSplitter>
#include <QTabWidget>
#include "ui/widget_capture.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::MainWindow;
using mixq_test::drop_urls;
using mixq_test::save_shot;
using mixq_test::screenshot_dir;

namespace {
QJsonObject demo_config() {
    return QJsonDocument::fromJson(QByteArray::fromStdString(mixq_test::read_text(mixq_test::demo_model() / "config.json")))
        .object();
}

std::string open_error(const std::filesystem::path& dir) {
    return mixq_test::error_of([&] { io::Model::open(dir); });
}
}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        // Keep the user's real settings and score cache untouched: both live in scratch folders. These tests
        // cover loading; automatic scoring is off here (tests/ui/test_scoring_flow.cpp covers it).
        mixq_test::isolate_user_state("ui_main_window");
        ui::RecentModels::clear();
    }

    void empty_window_has_docks_and_device_label() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.centralWidget() == w.centreSplitter());
        QVERIFY(w.centreSplitter()->widget(0) == w.heatmap());
        QCOMPARE(w.dockWidgetArea(w.sideDock()), Qt::RightDockWidgetArea);
        QCOMPARE(w.dockWidgetArea(w.logDock()), Qt::BottomDockWidgetArea);
        const QString dev = w.jobStatusBar()->deviceLabel()->text();
        QVERIFY2(QRegularExpression("^CPU, \\d+ threads?$").match(dev).hasMatch(), qPrintable(dev));
        QVERIFY(w.jobStatusBar()->memoryLabel()->isVisible());
        QVERIFY(!w.jobStatusBar()->cancelButton()->isVisible());
        w.setMemoryMode("memory: streaming", "weights streamed per layer");
        QCOMPARE(w.jobStatusBar()->memoryLabel()->text(), QString("memory: streaming"));
        QVERIFY(!w.model());
        save_shot(&w, "01_empty.png");
    }

    void dropping_demo_folder_loads_model_and_summary() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.show();
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        const QString demo = QString::fromStdString(mixq_test::demo_model().string());
        QVERIFY(drop_urls(&w, {QUrl::fromLocalFile(demo)}));
        QTRY_COMPARE(loaded.count(), 1);
        QCOMPARE(errors.count(), 0);
        QTRY_VERIFY(!w.isBusy());
        QVERIFY(w.model());

        // Independent reference: the folder's config.json, read with Qt's JSON parser.
        const QJsonObject cfg = demo_config();
        const int hidden = cfg.value("hidden_size").toInt();
        const int layers = cfg.value("num_hidden_layers").toInt();
        const int inter = cfg.value("intermediate_size").toInt();
        const int vocab = cfg.value("vocab_size").toInt();
        const int heads = cfg.value("num_attention_heads").toInt();
        const int kv_heads = cfg.value("num_key_value_heads").toInt();
        const int head_dim = cfg.value("head_dim").toInt();
        const bool tied = cfg.value("tie_word_embeddings").toBool();
        QCOMPARE(hidden, 128);
        QCOMPARE(layers, 6);
        auto* s = w.summaryPanel();
        QCOMPARE(s->value("hidden"), QString::number(hidden));
        QCOMPARE(s->value("layers"), QString::number(layers));
        QCOMPARE(s->value("intermediate"), QString::number(inter));
        QCOMPARE(s->value("vocab"), QString::number(vocab));
        QCOMPARE(s->value("heads"), QString::number(heads));
        QCOMPARE(s->value("kv_heads"), QString::number(kv_heads));
        QCOMPARE(s->value("head_dim"), QString::number(head_dim));
        QCOMPARE(s->value("architecture"), cfg.value("model_type").toString());
        const QMap<QString, QString> dtype_short{{"bfloat16", "bf16"}, {"float16", "f16"}, {"float32", "f32"}};
        QCOMPARE(s->value("dtype"), dtype_short.value(cfg.value("torch_dtype").toString()));
        QCOMPARE(s->value("tied_embeddings"), QString(tied ? "yes" : "no"));
        QCOMPARE(s->value("packed_qkv"), QString("no"));
        QCOMPARE(s->value("fused_gate_up"), QString("no"));
        // Parameters in closed form: embeddings (+ lm_head when untied), per layer q,k,v,o, gate/up/down and
        // two norms, and the final norm.
        const qlonglong q = qlonglong(heads) * head_dim, kv = qlonglong(kv_heads) * head_dim;
        const qlonglong per_layer = hidden * (q + 2 * kv) + q * hidden + 3LL * hidden * inter + 2LL * hidden;
        const qlonglong params = qlonglong(vocab) * hidden * (tied ? 1 : 2) + layers * per_layer + hidden;
        const QString ptext = s->value("parameters");
        const QString grouped = ptext.section('(', 1).section(')', 0, 0).remove(',');
        QCOMPARE(grouped.toLongLong(), params);
        QVERIFY2(ptext.startsWith("1.24 M"), qPrintable(ptext));
        // Units: q/k/v, o, gate/up, down per layer plus the tied embedding.
        QVERIFY2(s->value("units").startsWith(QString::number(4 * layers + 1) + " ("), qPrintable(s->value("units")));
        QCOMPARE(s->value("linears"), QString::number(7 * layers + 1));
        QCOMPARE(s->value("content_hash").size(), 16);
        w.sideTabs()->setCurrentWidget(w.sideTabs()->widget(1));
        QVERIFY(s->findChild<QLabel*>("summary_hidden")->isVisible());

        QCOMPARE(w.heatmap()->rowCount(), layers + 1);
        QVERIFY(w.windowTitle().contains("demo-model"));
        QCOMPARE(ui::RecentModels::list().value(0), QDir::cleanPath(demo));
        QVERIFY(w.logPanel()->lines().join("\n").contains("6 layers"));
        save_shot(&w, "02_model_loaded.png");
    }

    void dropping_invalid_folders_reports_loader_reason() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.show();
        QSignalSpy errors(&w, &MainWindow::errorReported);
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);

        const auto empty = mixq_test::scratch("ui_invalid_empty");
        QVERIFY(drop_urls(&w, {QUrl::fromLocalFile(QString::fromStdString(empty.string()))}));
        QTRY_COMPARE(errors.count(), 1);
        const std::string want_empty = open_error(empty);
        QVERIFY(!want_empty.empty());
        QCOMPARE(errors.at(0).at(1).toString(), QString::fromStdString(want_empty));

        const auto bad = mixq_test::scratch("ui_invalid_config");
        std::ofstream(bad / "config.json") << R"({"model_type": "llama", "hidden_size": 64})";
        QVERIFY(drop_urls(&w, {QUrl::fromLocalFile(QString::fromStdString(bad.string()))}));
        QTRY_COMPARE(errors.count(), 2);
        const QString msg = errors.at(1).at(1).toString();
        QCOMPARE(msg, QString::fromStdString(open_error(bad)));
        QVERIFY2(!msg.contains('\n'), "the reason is one line");
        QVERIFY2(msg.contains("config.json"), qPrintable(msg));

        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(loaded.count(), 0);
        QVERIFY(!w.model());
        QVERIFY(QApplication::activeModalWidget() == nullptr);  // nothing blocks
        QVERIFY(w.logPanel()->lines().join("\n").contains("error: " + msg));
        QVERIFY(!ui::RecentModels::list().contains(QString::fromStdString(bad.string())));

        // Non-local URLs and nothing-at-all are not accepted.
        QVERIFY(!drop_urls(&w, {QUrl("https://huggingface.co/some/model")}));
        QVERIFY(!drop_urls(&w, {QUrl::fromLocalFile("/nonexistent/mixq/folder")}));
    }

    void error_dialog_is_non_blocking_when_enabled() {
        MainWindow w;  // dialogs on (default)
        w.setAutoScore(false);
        w.show();
        QSignalSpy errors(&w, &MainWindow::errorReported);
        const auto empty = mixq_test::scratch("ui_invalid_dialog");
        w.openModel(QString::fromStdString(empty.string()));
        QTRY_COMPARE(errors.count(), 1);  // returns: open() does not run a nested blocking loop
        auto* box = w.findChild<QWidget*>("errorDialog");
        QVERIFY(box);
        QTRY_VERIFY(box->isVisible());
        save_shot(box, "05_error_dialog.png");
        box->close();
    }

    void scores_file_feeds_heatmap_and_plan_labels() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.resize(1360, 860);
        w.show();
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy scored(&w, &MainWindow::scoresLoaded);
        w.openDemoModel();
        QTRY_COMPARE(loaded.count(), 1);
        const auto table = mixq_test::fake_scores(*w.model());
        const auto dir = mixq_test::scratch("ui_scores");
        score::save_score_table(table, dir / "scores.json");
        // Also keep a copy beside the screenshots for trying `mixq-studio --scores`.
        score::save_score_table(table, std::filesystem::path(screenshot_dir().toStdString()) / "fake_scores.json");
        QVERIFY(drop_urls(&w, {QUrl::fromLocalFile(QString::fromStdString((dir / "scores.json").string()))}));
        QTRY_COMPARE(scored.count(), 1);
        QTRY_VERIFY(!w.isBusy());  // the planner for these scores is built; its plan labels are in
        QVERIFY(!w.heatmap()->cellText(3, 6).isEmpty());
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->units.size(), table.units.size());
        // layers.3.down is unit #15: row 3, column "down" (6).
        QCOMPARE(w.heatmap()->cellValue(3, 6), std::log10(mixq_test::fake_kld(15, 0)));
        std::map<std::string, std::string> plan;
        for (size_t i = 0; i < table.units.size(); ++i)
            plan[table.units[i].name] = i % 3 == 0 ? "int4-g128" : (i % 3 == 1 ? "int8-g32" : "fp16");
        w.setPlanFormats(plan);
        QCOMPARE(w.heatmap()->cellText(3, 6), QString(15 % 3 == 0 ? "4" : "8"));
        save_shot(&w, "03_scores_and_plan.png");
    }

    void scorer_style_incremental_feed_from_worker() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        w.openDemoModel();
        QTRY_COMPARE(loaded.count(), 1);
        const auto table = mixq_test::fake_scores(*w.model());
        w.beginScores(table.candidates, table.scale_bits);
        QVERIFY(std::isnan(w.heatmap()->cellValue(0, 0)));
        // A worker hands over units one by one, as the scorer will; the heatmap fills on the GUI thread.
        ui::JobRunner* jobs = w.jobs();
        jobs->start("Scoring (fake)", [jobs, &w, table](const JobContext& ctx) -> ui::JobRunner::Deliver {
            for (size_t i = 0; i < table.units.size(); ++i) {
                ctx.report(double(i + 1) / table.units.size(), "scoring", table.units[i].name);
                const auto unit = table.units[i];
                jobs->post([&w, unit] { w.addUnitScore(unit); });
            }
            return [&w, table] { w.setScores(table); };
        });
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(w.heatmap()->scoredUnitCount(), int(table.units.size()));
        QCOMPARE(w.heatmap()->cellValue(4, 3), std::log10(mixq_test::fake_kld(17, 0)));  // layers.4.o
        QVERIFY(w.scores());
    }

    void cancel_button_ends_long_job() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.show();
        QSignalSpy cancelled(w.jobs(), &ui::JobRunner::jobCancelled);
        QSignalSpy busy(&w, &MainWindow::busyChanged);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        std::atomic<bool> running{false};
        bool delivered = false;
        w.jobs()->start("Scoring (simulated)", [&](const JobContext& ctx) -> ui::JobRunner::Deliver {
            running = true;
            for (int i = 0;; ++i) {
                ctx.report(std::min(0.9, i / 2000.0), "scoring", "layers." + std::to_string(i % 6) + ".qkv");
                if (i % 100 == 0) ctx.log("step " + std::to_string(i));
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            return [&] { delivered = true; };
        });
        QVERIFY(w.isBusy());
        auto* bar = w.jobStatusBar();
        QTRY_VERIFY(bar->progressBar()->value() > 0);
        QTRY_VERIFY(bar->etaLabel()->text().startsWith("ETA "));
        QVERIFY(bar->cancelButton()->isVisible());
        QVERIFY(bar->jobLabel()->text().startsWith("scoring: layers."));
        QTRY_VERIFY(w.logPanel()->lines().contains("step 100"));  // JobContext log lines reach the log view
        save_shot(&w, "04_busy.png");
        QTest::mouseClick(bar->cancelButton(), Qt::LeftButton);
        QTRY_COMPARE(cancelled.count(), 1);
        QVERIFY(!w.isBusy());
        QVERIFY(!delivered);
        QCOMPARE(errors.count(), 0);  // a cancel is not an error
        QCOMPARE(busy.count(), 2);
        QVERIFY(!bar->cancelButton()->isVisible());
        QVERIFY(w.logPanel()->lines().last().contains("cancelled"));
    }

    void window_stays_responsive_while_loading() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.show();
        // A job blocks its worker for 300 ms; the GUI thread keeps running timers meanwhile.
        w.jobs()->start("Slow", [](const JobContext&) -> ui::JobRunner::Deliver {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            return {};
        });
        int ticks = 0;
        QTimer t;
        connect(&t, &QTimer::timeout, [&] { ++ticks; });
        t.start(10);
        QTRY_VERIFY(!w.isBusy());
        QVERIFY2(ticks >= 5, qPrintable(QString("only %1 timer ticks while the job ran").arg(ticks)));
    }

    void recent_models_menu_reopens() {
        ui::RecentModels::clear();
        const QString demo = QString::fromStdString(mixq_test::demo_model().string());
        ui::RecentModels::add("/tmp/a");
        ui::RecentModels::add(demo);
        ui::RecentModels::add("/tmp/a");
        QCOMPARE(ui::RecentModels::list(), QStringList({"/tmp/a", QDir::cleanPath(demo)}));
        QCOMPARE(QSettings("MixQ", "MixQ Studio").value("recentModels").toStringList().size(), 2);
        for (int i = 0; i < 12; ++i) ui::RecentModels::add(QString("/tmp/m%1").arg(i));
        QCOMPARE(ui::RecentModels::list().size(), ui::RecentModels::kMax);

        ui::RecentModels::clear();
        ui::RecentModels::add(demo);
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        QMenu* recent = w.findChild<QMenu*>("menuRecent");
        QVERIFY(recent);
        emit recent->aboutToShow();
        QAction* first = recent->actions().value(0);
        QVERIFY(first);
        QCOMPARE(first->text(), QDir::toNativeSeparators(QDir::cleanPath(demo)));
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        first->trigger();
        QTRY_COMPARE(loaded.count(), 1);
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
