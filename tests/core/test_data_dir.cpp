// SPDX-License-Identifier: MIT
// Data lookup (core/io/data_dir.h): <exe>/../share/mixq-studio first, the source tree for build-tree runs, and the
// MIXQ_DATA_DIR / MIXQ_DEMO_MODEL / MIXQ_CALIBRATION_TEXT overrides. The installed layout itself is exercised by
// scripts/test-package.sh on an unpacked .deb.
#include <QtTest>
#include <cstdlib>

#include "core/io/data_dir.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

class TestDataDir : public QObject {
    Q_OBJECT
private slots:
    void init() {
        unsetenv("MIXQ_DATA_DIR");
        unsetenv("MIXQ_DEMO_MODEL");
        unsetenv("MIXQ_CALIBRATION_TEXT");
    }
    void executableRelativeFirst() {
        const fs::path exe = io::executable_dir();
        QCOMPARE(QString::fromStdString(exe.filename().string()), QStringLiteral("tests"));
        const auto c = io::data_dir_candidates();
        QCOMPARE(int(c.size()), 2);
        QCOMPARE(c[0], (exe.parent_path() / "share" / "mixq-studio").lexically_normal());
        QCOMPARE(c[1], fs::path(MIXQ_SOURCE_RESOURCES));
    }
    void buildTreeFallsBackToSource() {
        // build/share/mixq-studio does not exist, so a build-tree run reads the source tree's resources/.
        QCOMPARE(io::data_dir(), fs::path(MIXQ_SOURCE_RESOURCES));
        QCOMPARE(io::demo_model_path(), fs::path(MIXQ_SOURCE_RESOURCES) / "demo-model");
        QCOMPARE(score::builtin_calibration_path(), fs::path(MIXQ_SOURCE_RESOURCES) / "calibration" / "builtin.txt");
        QVERIFY(fs::exists(score::builtin_calibration_path()));
    }
    void overrides() {
        const fs::path tmp = mixq_test::scratch("data_dir_override");
        setenv("MIXQ_DATA_DIR", tmp.c_str(), 1);
        QCOMPARE(io::data_dir_candidates().size(), size_t(1));
        QCOMPARE(io::data_dir(), tmp);  // no demo model there: still the only candidate, so errors name it
        QCOMPARE(io::demo_model_path(), tmp / "demo-model");
        QCOMPARE(score::builtin_calibration_path(), tmp / "calibration" / "builtin.txt");
        setenv("MIXQ_DEMO_MODEL", "/x/model", 1);
        setenv("MIXQ_CALIBRATION_TEXT", "/x/calib.txt", 1);
        QCOMPARE(io::demo_model_path(), fs::path("/x/model"));
        QCOMPARE(score::builtin_calibration_path(), fs::path("/x/calib.txt"));
    }
    void cleanupTestCase() { init(); }
};

QTEST_GUILESS_MAIN(TestDataDir)
#include "test_data_dir.moc"
