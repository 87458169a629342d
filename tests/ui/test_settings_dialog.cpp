// SPDX-License-Identifier: MIT
// Settings > Scoring...: the dialog shows the current settings, OK validates (a bad candidate list keeps it open
// with a one-line reason), accepted values persist in QSettings (read back here with QSettings itself) and
// re-score the open model with them; the cache key changes with what changes scores and only with that.
#include <QAction>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>

#include "test_support.h"
#include "ui/job_status_bar.h"
#include "ui/main_window.h"
#include "ui/scoring_controller.h"
#include "ui/scoring_settings.h"
#include "ui/settings_dialog.h"
#include "ui_test_env.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::ScoringSettings;

namespace {
/// FNV-1a 64 of UTF-8 text, as 16 hex digits (reference for the cache key).
QString fnv1a(const QString& text) {
    quint64 h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text.toUtf8()) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return QString::number(h, 16).rightJustified(16, '0');
}
}  // namespace

class TestSettingsDialog : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_settings_dialog"); }

    void defaults_and_cache_key() {
        const ScoringSettings d = ScoringSettings::load();  // nothing stored yet
        QCOMPARE(d.samples, 32);
        QCOMPARE(d.seq_len, 128);
        QCOMPARE(d.candidates, QString("int4-g32,int4-g128,int8-g128"));
        QCOMPARE(d.method, QString("rtn"));
        QCOMPARE(d.device, QString("auto"));
        QCOMPARE(d.memory, QString("auto"));
        QCOMPARE(d.cache_key(), fnv1a(d.cache_key_text()));
        QVERIFY(d.cache_key_text().contains("samples=32"));
        // Device and memory mode do not change scores; samples, length, candidates and method do.
        ScoringSettings s = d;
        s.device = "cpu";
        s.memory = "low_memory";
        QCOMPARE(s.cache_key(), d.cache_key());
        for (auto change : std::vector<std::function<void(ScoringSettings&)>>{
                 [](ScoringSettings& x) { x.samples = 31; }, [](ScoringSettings& x) { x.seq_len = 64; },
                 [](ScoringSettings& x) { x.candidates = "int4-g32"; }, [](ScoringSettings& x) { x.method = "kquant"; }}) {
            ScoringSettings t = d;
            change(t);
            QVERIFY(t.cache_key() != d.cache_key());
        }
        s = d;
        s.candidates = "int3-g32";
        QVERIFY_THROWS_EXCEPTION(Error, s.validate());
    }

    void dialog_validates_persists_and_rescores() {
        ui::MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        w.setAutoScore(false);
        w.resize(1440, 900);
        w.show();
        QSignalSpy loaded(&w, &ui::MainWindow::modelLoaded);
        w.openDemoModel();
        QTRY_COMPARE(loaded.count(), 1);
        w.setAutoScore(true);  // from now on, accepted settings re-score

        QAction* action = w.findChild<QAction*>("actionScoringSettings");
        QVERIFY(action);
        action->trigger();
        auto* dlg = w.findChild<ui::SettingsDialog*>("settingsDialog");
        QVERIFY(dlg);
        QTRY_VERIFY(dlg->isVisible());
        QCOMPARE(dlg->samplesBox()->value(), 32);
        QCOMPARE(dlg->seqLenBox()->value(), 128);
        QCOMPARE(dlg->settings().candidates, QString("int4-g32,int4-g128,int8-g128"));
        // Candidates are chosen from a list (bits, group size, zero points), not typed.
        QVERIFY(!dlg->findChild<QLineEdit*>("settingsCandidates"));
        QVERIFY(dlg->candidatesList()->count() >= 12);
        QCOMPARE(dlg->candidatesList()->item(0)->data(Qt::UserRole).toString(), QString("int4-g32"));

        for (const char* f : {"int4-g32", "int4-g128", "int8-g128"}) QVERIFY(dlg->setCandidateChecked(f, false));
        dlg->accept();
        QVERIFY(dlg->isVisible());  // refused: nothing chosen
        QVERIFY(dlg->errorLabel()->isVisible());
        QVERIFY(!dlg->errorLabel()->text().contains('\n'));
        QVERIFY2(dlg->errorLabel()->text().contains("candidates"), qPrintable(dlg->errorLabel()->text()));
        mixq_test::save_shot(dlg, "17_settings_dialog_error.png");

        QVERIFY(dlg->setCandidateChecked("int4-g32", true));
        QVERIFY(dlg->setCandidateChecked("int8-g128", true));
        dlg->samplesBox()->setValue(3);
        dlg->seqLenBox()->setValue(24);
        dlg->memoryBox()->setCurrentText("low_memory");
        dlg->methodBox()->setCurrentText("rtn");
        QSignalSpy finished(w.scoring(), &ui::ScoringController::scoringFinished);
        dlg->accept();
        QTRY_VERIFY(!w.findChild<ui::SettingsDialog*>("settingsDialog"));  // closed and deleted

        QSettings st("MixQ", "MixQ Studio");
        QCOMPARE(st.value("scoring/samples").toInt(), 3);
        QCOMPARE(st.value("scoring/seqLen").toInt(), 24);
        QCOMPARE(st.value("scoring/memory").toString(), QString("low_memory"));
        QCOMPARE(st.value("scoring/candidates").toString(), QString("int4-g32,int8-g128"));
        QCOMPARE(ScoringSettings::load(), w.scoring()->settings());

        // The open model is scored with them: low_memory as requested, two candidates, 3 x 24 tokens.
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 120000);
        QTRY_VERIFY(!w.isBusy());
        QVERIFY(w.scores());
        QCOMPARE(w.scores()->calib_samples, 3);
        QCOMPARE(w.scores()->calib_seq_len, 24);
        QCOMPARE(w.scores()->candidates.size(), size_t(2));
        QCOMPARE(w.scores()->memory_mode, std::string("low_memory"));
        QCOMPARE(w.jobStatusBar()->memoryLabel()->text(), QString("memory: low_memory (requested)"));
    }
};

QTEST_MAIN(TestSettingsDialog)
#include "test_settings_dialog.moc"
