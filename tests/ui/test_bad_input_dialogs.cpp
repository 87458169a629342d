// SPDX-License-Identifier: MIT
// The app's error dialog on a representative few of the issue-22 bad inputs (tests/data/bad): a named pipe as
// config.json (must not hang the loader), a config.json symlink loop and a wrong-typed config value each open one
// non-blocking dialog whose text is the loader's one-line message naming config.json; no model is loaded. A model
// with finite weights whose MLP overflows loads, and scoring it stops with the dialog naming the model folder and
// where the first non-finite value arose; no scores are written.
#include <sys/stat.h>

#include <QApplication>
#include <QMessageBox>
#include <QSignalSpy>

#include "core/io/model.h"
#include "test_errors.h"
#include "test_support.h"
#include "ui/main_window.h"
#include "ui/scoring_controller.h"
#include "ui_test_env.h"

namespace fs = std::filesystem;
using mixq::ui::MainWindow;

namespace {
fs::path bad() { return fs::path(MIXQ_TEST_DATA_DIR) / "bad"; }

/// A writable copy of the demo model with `overlay`'s entries (symlinks as symlinks) laid over it.
fs::path model_with(const std::string& name, const fs::path& overlay) {
    const auto dir = mixq_test::scratch("ui_bad_" + name) / "model";
    fs::copy(mixq_test::demo_model(), dir);
    for (const auto& e : fs::directory_iterator(dir)) fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    if (overlay.empty()) return dir;
    for (const auto& e : fs::directory_iterator(overlay)) {
        fs::remove(dir / e.path().filename());
        if (e.is_symlink()) fs::copy_symlink(e.path(), dir / e.path().filename());
        else fs::copy_file(e.path(), dir / e.path().filename());
    }
    return dir;
}
}  // namespace

class TestBadInputDialogs : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_bad_input_dialogs"); }

    void errorDialogNamesTheFile_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("fragment");
        QTest::newRow("fifo_config") << "fifo_config" << "named pipe";
        QTest::newRow("symlink_loop") << "symlink_loop" << "symbolic link loop";
        QTest::newRow("tie_as_string") << "tie_as_string" << "tie_word_embeddings";
    }
    void errorDialogNamesTheFile() {
        QFETCH(QString, name);
        QFETCH(QString, fragment);
        fs::path dir;
        if (name == "fifo_config") {
            dir = model_with("fifo", {});
            fs::remove(dir / "config.json");
            QCOMPARE(::mkfifo((dir / "config.json").c_str(), 0644), 0);
        } else if (name == "symlink_loop") {
            dir = model_with("loop", bad() / "special" / "symlink_loop");
        } else {
            dir = model_with("tie", bad() / "config" / "tie_as_string");
        }
        const std::string want = mixq_test::error_of([&] { mixq::io::Model::open(dir); });
        QVERIFY2(want.find("config.json") != std::string::npos && want.find('\n') == std::string::npos, want.c_str());

        MainWindow w;  // error dialogs on, as a user has them
        w.setAutoScore(false);
        w.show();
        QSignalSpy errors(&w, &MainWindow::errorReported);
        w.openModel(QString::fromStdString(dir.string()));
        QTRY_COMPARE_WITH_TIMEOUT(errors.count(), 1, 20000);
        const QString msg = errors.at(0).at(1).toString();
        QCOMPARE(msg, QString::fromStdString(want));
        QVERIFY2(msg.contains(fragment), qPrintable(msg));
        auto* box = w.findChild<QMessageBox*>("errorDialog");
        QVERIFY(box);
        QTRY_VERIFY(box->isVisible());
        QCOMPARE(box->text(), msg);
        QVERIFY(!w.model());
        box->close();
    }

    void nonFiniteScoringNamesTheModelAndWhere() {
        const auto dir = mixq_test::scratch("ui_bad_overflow_mlp") / "model";
        fs::create_directories(dir);
        for (const auto& e : fs::directory_iterator(bad() / "nonfinite" / "overflow_mlp"))
            fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(mixq_test::demo_model() / f, dir / f, fs::copy_options::overwrite_existing);
        MainWindow w;  // error dialogs on; the model is scored when it opens
        w.setRememberRecent(false);
        w.scoring()->setSettings(mixq_test::small_settings(1, 8), false);
        w.show();
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        QSignalSpy written(w.scoring(), &mixq::ui::ScoringController::cacheWritten);
        w.openModel(QString::fromStdString(dir.string()));
        QTRY_COMPARE_WITH_TIMEOUT(errors.count(), 1, 60000);
        QCOMPARE(loaded.count(), 1);
        const QString msg = errors.at(0).at(1).toString();
        const QString want = QString::fromStdString(dir.string()) + ": non-finite activations at layer 0 MLP output, position 0";
        QVERIFY2(msg.contains(want) && !msg.contains('\n'), qPrintable(msg));
        auto* box = w.findChild<QMessageBox*>("errorDialog");
        QVERIFY(box);
        QTRY_VERIFY(box->isVisible());
        QCOMPARE(box->text(), msg);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(written.count(), 0);
        box->close();
    }
};

QTEST_MAIN(TestBadInputDialogs)
#include "test_bad_input_dialogs.moc"
