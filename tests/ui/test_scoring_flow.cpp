// SPDX-License-Identifier: MIT
// Scoring in the studio, end to end (offscreen): dropping the demo model folder starts a fast pass whose scores
// fill the heatmap unit by unit, then an exact pass replaces them; the values match core's scorer run directly
// in the test; the status bar names the device and the memory mode with its reason; the exact table is cached
// and a second open reads it without any scoring job; Cancel (in either pass) stops scoring and leaves no
// cache file. Screenshots of the scoring states go to <build>/screenshots.
#include <QDirIterator>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <cmath>
#include <set>

#include "core/io/model.h"
#include "core/score/score_table.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/log_panel.h"
#include "ui/main_window.h"
#include "ui/score_cache.h"
#include "ui/scoring_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui/plan_controller.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::MainWindow;
using ui::ScoringController;

namespace {
constexpr int kTimeout = 120000;  // ms; scoring the demo with 4 x 32 tokens takes a few seconds

QString demo_dir() { return QString::fromStdString(mixq_test::demo_model().string()); }

/// The heatmap value of every unit (its first cell), by unit name.
std::map<std::string, double> heatmap_values(const ui::SensitivityHeatmap* h) {
    std::map<std::string, double> out;
    for (const auto& u : h->grid().units()) out[u.name] = h->cellValue(h->grid().row_of(u), u.col_begin);
    return out;
}

/// log10 KLD of candidate #0 for every unit of a table (what the heatmap shows for its default candidate).
std::map<std::string, double> expected_values(const score::ScoreTable& t) {
    std::map<std::string, double> out;
    for (const auto& u : t.units) out[u.name] = std::log10(std::max(u.candidates.at(0).kld, 1e-10));
    return out;
}

void compare_values(const std::map<std::string, double>& got, const std::map<std::string, double>& want) {
    QCOMPARE(got.size(), want.size());
    for (const auto& [name, v] : want) {
        auto it = got.find(name);
        QVERIFY2(it != got.end(), name.c_str());
        QVERIFY2(std::isfinite(it->second), name.c_str());
        QVERIFY2(std::abs(it->second - v) < 1e-9, qPrintable(QString("%1: heatmap %2, reference %3")
                                                                .arg(QString::fromStdString(name))
                                                                .arg(it->second)
                                                                .arg(v)));
    }
}

QStringList json_files(const QString& root) {
    QStringList out;
    QDirIterator it(root, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) out << it.next();
    return out;
}
}  // namespace

class TestScoringFlow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_scoring_flow"); }

    void drop_scores_fast_then_exact_and_fills_heatmap() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        w.scoring()->setSettings(mixq_test::small_settings(4, 32), false);
        w.resize(1440, 900);
        w.show();
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        QSignalSpy units(w.scoring(), &ScoringController::unitScored);
        QSignalSpy finished(w.scoring(), &ScoringController::scoringFinished);
        QSignalSpy written(w.scoring(), &ScoringController::cacheWritten);
        std::map<std::string, double> after_fast;
        connect(w.scoring(), &ScoringController::fastPassFinished, this,
                [&] { after_fast = heatmap_values(w.heatmap()); });
        bool shot_taken = false;
        connect(w.scoring(), &ScoringController::unitScored, this, [&](const QString&, const QString& mode) {
            if (!shot_taken && mode == "fast" && units.count() == 12) {  // the map half filled, job running
                shot_taken = true;
                QVERIFY(w.isBusy());
                mixq_test::save_shot(&w, "10_scoring_fast_pass.png");
            }
        });

        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(demo_dir())}));
        QTRY_COMPARE(loaded.count(), 1);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kTimeout);
        QCOMPARE(finished.at(0).at(0).toBool(), false);  // really scored, not from the cache
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(errors.count(), 0);
        QVERIFY(shot_taken);

        // Order: every unit once in the fast pass, then every unit once in the exact pass.
        const auto& layout = w.model()->layout().units;
        const int n = static_cast<int>(layout.size());
        QCOMPARE(units.count(), 2 * n);
        std::set<QString> want_units, fast_units, exact_units;
        for (const auto& u : layout) want_units.insert(QString::fromStdString(u.name));
        for (int i = 0; i < 2 * n; ++i) {
            const QString mode = units.at(i).at(1).toString();
            QCOMPARE(mode, QString(i < n ? "fast" : "exact"));
            (i < n ? fast_units : exact_units).insert(units.at(i).at(0).toString());
        }
        QVERIFY(fast_units == want_units);
        QVERIFY(exact_units == want_units);

        // Values: the fast pass's map equals core's fast scores, the final map core's exact scores.
        const auto fast_ref = mixq_test::reference_scores(w.model(), 4, 32, "fast");
        const auto exact_ref = mixq_test::reference_scores(w.model(), 4, 32, "exact");
        compare_values(after_fast, expected_values(fast_ref));
        compare_values(heatmap_values(w.heatmap()), expected_values(exact_ref));
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->mode, std::string("exact"));
        QCOMPARE(w.heatmap()->statusText(), QString("exact scores"));
        // Fast and exact differ somewhere (otherwise the replacement above proves nothing).
        QVERIFY(expected_values(fast_ref) != expected_values(exact_ref));

        // Status bar: device and the scorer's memory decision with its reason.
        auto* bar = w.jobStatusBar();
        QVERIFY(QRegularExpression("^CPU, \\d+ threads?$").match(bar->deviceLabel()->text()).hasMatch());
        QVERIFY(bar->deviceLabel()->toolTip().contains("cpu"));
        QCOMPARE(bar->memoryLabel()->text(), QString("memory: %1 (auto)").arg(QString::fromStdString(exact_ref.memory_mode)));
        QCOMPARE(bar->memoryLabel()->toolTip().section(" (free", 0, 0),
                 QString::fromStdString(exact_ref.memory_reason).section(" (free", 0, 0));

        // Every unit carries a plan label once the planner has run.
        for (const auto& u : w.heatmap()->grid().units())
            QVERIFY2(!w.heatmap()->cellText(w.heatmap()->grid().row_of(u), u.col_begin).isEmpty(), u.name.c_str());
        QVERIFY(w.budgetPanel()->isEnabled());

        // The exact table went to the cache, named by model hash and settings key, readable by core.
        QCOMPARE(written.count(), 1);
        const QString path = written.at(0).at(0).toString();
        QCOMPARE(path, w.scoring()->cache().pathFor(w.model()->content_hash(), w.scoring()->settings()));
        QVERIFY(path.startsWith(QString::fromLocal8Bit(qgetenv("XDG_CACHE_HOME"))));
        QVERIFY(QFileInfo(path).fileName().startsWith(QString::fromStdString(w.model()->content_hash()) + "-"));
        const auto cached = score::load_score_table(path.toStdString());
        QCOMPARE(cached.mode, std::string("exact"));
        QCOMPARE(cached.calib_samples, 4);
        QCOMPARE(cached.calib_seq_len, 32);
        QCOMPARE(cached.units.size(), layout.size());
        mixq_test::save_shot(&w, "11_scored_and_planned.png");
        qInfo("demo model scored in the app in %.2f s (4 x 32 tokens, fast + exact)", w.scoring()->lastSeconds());
    }

    void second_open_uses_the_cache() {
        // Runs after the test above: the cache holds the demo's exact scores for these settings.
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        w.scoring()->setSettings(mixq_test::small_settings(4, 32), false);
        const QString path = w.scoring()->cache().pathFor(io::Model::open(mixq_test::demo_model())->content_hash(),
                                                          w.scoring()->settings());
        QVERIFY2(QFileInfo::exists(path), qPrintable(path));
        const auto cached = score::load_score_table(path.toStdString());
        QStringList titles;
        connect(w.jobs(), &ui::JobRunner::jobStarted, this, [&](const QString& t) { titles << t; });
        QSignalSpy finished(w.scoring(), &ScoringController::scoringFinished);
        QSignalSpy units(w.scoring(), &ScoringController::unitScored);
        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(demo_dir())}));
        QTRY_COMPARE(finished.count(), 1);
        QCOMPARE(finished.at(0).at(0).toBool(), true);
        QTRY_VERIFY(!w.isBusy());
        for (const QString& t : titles) QVERIFY2(!t.startsWith(ScoringController::titlePrefix()), qPrintable(t));
        QCOMPARE(units.count(), 0);
        compare_values(heatmap_values(w.heatmap()), expected_values(cached));
        QVERIFY(w.heatmap()->statusText().contains("cached"));
        QVERIFY(w.logPanel()->lines().join("\n").contains("from the cache"));

        // Other settings (3 samples) are another cache entry: that open scores.
        ui::ScoringSettings other = mixq_test::small_settings(3, 32);
        QVERIFY(other.cache_key() != w.scoring()->settings().cache_key());
        w.scoring()->setSettings(other, false);
        titles.clear();
        w.scoring()->scoreModel();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kTimeout);
        QCOMPARE(finished.at(1).at(0).toBool(), false);
        QVERIFY(titles.filter(ScoringController::titlePrefix()).size() == 2);  // fast + exact
        QVERIFY(QFileInfo::exists(w.scoring()->cache().pathFor(w.model()->content_hash(), other)));
        QTRY_VERIFY(!w.isBusy());
    }

    void scores_file_for_the_model_replaces_automatic_scoring() {
        // What `mixq-studio MODEL --scores FILE` does: open (scoring queued), then load the file.
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        const QString root = QString::fromStdString(mixq_test::scratch("ui_scoring_file_cache").string());
        w.scoring()->cache().setRoot(root);
        w.scoring()->setSettings(mixq_test::small_settings(4, 32), false);
        const auto table = mixq_test::fake_scores(*io::Model::open(mixq_test::demo_model()));
        const auto dir = mixq_test::scratch("ui_scoring_file");
        score::save_score_table(table, dir / "scores.json");
        QSignalSpy finished(w.scoring(), &ScoringController::scoringFinished);
        QSignalSpy scored(&w, &MainWindow::scoresLoaded);
        w.openDemoModel();
        w.loadScores(QString::fromStdString((dir / "scores.json").string()));
        QTRY_COMPARE(scored.count(), 1);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(finished.count(), 0);
        QVERIFY(!w.scoring()->isScoring());
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->candidates.size(), mixq_test::fake_candidates().size());
        QCOMPARE(w.heatmap()->cellValue(3, 6), std::log10(mixq_test::fake_kld(15, 0)));  // layers.3.down
        QVERIFY2(!w.heatmap()->statusText().contains("cancel"), qPrintable(w.heatmap()->statusText()));
        QVERIFY(json_files(root).isEmpty());
        QVERIFY(w.plans()->hasPlan());
    }

    void cancel_stops_scoring_and_leaves_no_cache_file() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        const QString root = QString::fromStdString(mixq_test::scratch("ui_scoring_cancel_cache").string());
        w.scoring()->cache().setRoot(root);
        w.scoring()->setSettings(mixq_test::small_settings(16, 64), false);
        w.resize(1440, 900);
        w.show();
        QSignalSpy cancelled(w.scoring(), &ScoringController::scoringCancelled);
        QSignalSpy finished(w.scoring(), &ScoringController::scoringFinished);
        QSignalSpy jobCancelled(w.jobs(), &ui::JobRunner::jobCancelled);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        auto* bar = w.jobStatusBar();

        // 1. Cancel in the fast pass, as soon as its first unit arrives.
        QString cancel_in = "fast";
        int seen = 0;
        connect(w.scoring(), &ScoringController::unitScored, this, [&](const QString&, const QString& mode) {
            if (mode != cancel_in || seen++ > 0) return;
            QVERIFY(bar->cancelButton()->isVisible());
            QVERIFY(bar->progressBar()->isVisible());
            QVERIFY(bar->etaLabel()->text().startsWith("ETA "));
            if (mode == "exact") mixq_test::save_shot(&w, "12_scoring_exact_pass.png");
            QTest::mouseClick(bar->cancelButton(), Qt::LeftButton);
        });
        w.openDemoModel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 1, kTimeout);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(finished.count(), 0);
        QCOMPARE(jobCancelled.count(), 1);
        QVERIFY(jobCancelled.at(0).at(0).toString().contains("fast"));
        QVERIFY(!w.scoring()->isScoring());
        QVERIFY(w.heatmap()->statusText().contains("cancelled"));
        QVERIFY2(json_files(root).isEmpty(), qPrintable(json_files(root).join(", ")));
        QVERIFY(!bar->cancelButton()->isVisible());

        // 2. Cancel in the exact pass: the fast estimates stay on screen, still nothing is cached.
        cancel_in = "exact";
        seen = 0;
        w.scoring()->scoreModel();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.count(), 2, kTimeout);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(finished.count(), 0);
        QCOMPARE(jobCancelled.count(), 2);
        QVERIFY(jobCancelled.at(1).at(0).toString().contains("exact"));
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->mode, std::string("fast"));
        QVERIFY(w.heatmap()->statusText().contains("fast estimates"));
        QVERIFY2(json_files(root).isEmpty(), qPrintable(json_files(root).join(", ")));
        QCOMPARE(errors.count(), 0);  // a cancel is not an error
    }
};

QTEST_MAIN(TestScoringFlow)
#include "test_scoring_flow.moc"
