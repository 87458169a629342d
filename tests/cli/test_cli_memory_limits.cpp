// SPDX-License-Identifier: MIT
// Resource limits: `mixq` runs inside a memory cgroup whose limit is below the size of a generated model (BF16 file
// 287 MB, 574 MB in fp32). Full-mode scoring is refused with one line that gives the numbers (the cgroup's headroom
// counts as the available memory); low_memory and offload scoring, planning and export complete under the limit
// and the files are whole. Skips loudly where no writable memory cgroup (v1 or v2) exists.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_support.h"

using namespace mixq_cli_test;
namespace fs = std::filesystem;

namespace {

// Below the model file (287 MB = 274 MiB), far below fp32 weights (574 MB). Fast mode's Fisher estimate holds one
// layer's weights and Fisher diagonals in fp32 plus the embedding's: ~180 MiB of anonymous memory at any depth.
constexpr uint64_t kLimit = 220ull << 20;

bool write_text(const fs::path& p, const std::string& s) {
    std::ofstream f(p);
    f << s;
    f.flush();
    return static_cast<bool>(f);
}

/// A fresh memory cgroup limited to kLimit, or an empty path when none can be made here.
fs::path make_cgroup(QString* why) {
    const std::string name = "mixq-test-" + std::to_string(QCoreApplication::applicationPid());
    const fs::path v1 = fs::path("/sys/fs/cgroup/memory") / name;
    std::error_code ec;
    if (fs::create_directory(v1, ec) && write_text(v1 / "memory.limit_in_bytes", std::to_string(kLimit))) return v1;
    fs::remove(v1, ec);
    for (const fs::path& root : {fs::path("/sys/fs/cgroup"), fs::path("/sys/fs/cgroup/unified")}) {
        const fs::path v2 = root / name;
        if (fs::create_directory(v2, ec) && write_text(v2 / "memory.max", std::to_string(kLimit))) return v2;
        fs::remove(v2, ec);
    }
    *why = "no writable memory cgroup (v1 /sys/fs/cgroup/memory or v2 memory.max)";
    return {};
}

}  // namespace

class TestCliMemoryLimits : public QObject {
    Q_OBJECT
    fs::path m_root, m_model, m_cgroup;
    QString m_skip;

    /// Runs mixq inside the cgroup (the shell moves itself in, then execs mixq).
    Run run_limited(const QStringList& args) {
        QStringList quoted;
        for (const auto& a : args) quoted << "'" + a + "'";
        QProcess p;
        p.start("/bin/sh", {"-c", QString("echo $$ > '%1/cgroup.procs' && exec '%2' %3")
                                      .arg(str(m_cgroup), MIXQ_CLI_EXE, quoted.join(' '))});
        p.waitForFinished(600000);
        return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
                QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
    }

private slots:
    void initTestCase() {
        m_cgroup = make_cgroup(&m_skip);
        if (m_cgroup.empty()) return;
        m_root = mixq_test::scratch("cli_memory_limits");
        m_model = m_root / "model";
        const Run g = run_mixq({"gen-model", str(m_model), "--hidden", "1024", "--layers", "12", "--heads", "16",
                                "--kv-heads", "4", "--intermediate", "2816", "--vocab", "8192"});
        QVERIFY2(g.code == 0, qPrintable(g.err));
        uint64_t bytes = 0;
        for (const auto& e : fs::directory_iterator(m_model))
            if (e.path().extension() == ".safetensors") bytes += fs::file_size(e.path());
        QVERIFY2(bytes > kLimit, "the model must be bigger than the memory limit");
    }

    void cleanupTestCase() {
        if (m_cgroup.empty()) return;
        std::error_code ec;
        fs::remove(m_cgroup, ec);  // empty once its processes have exited
    }

    void fullModeIsRefused() {
        if (m_cgroup.empty()) QSKIP(qPrintable("MIXQ-SKIP: " + m_skip));
        const Run r = run_limited({"score", str(m_model), "--out", str(m_root / "full.json"), "--memory", "full",
                                   "--mode", "fast", "--samples", "2", "--seq-len", "16", "--quiet"});
        QCOMPARE(r.code, 1);
        const QStringList lines = r.err.trimmed().split('\n');
        QCOMPARE(lines.size(), 1);
        QVERIFY2(lines[0].startsWith("mixq: error: memory mode full: needs ") &&
                     lines[0].contains("of RAM is available; use --memory low_memory or offload"),
                 qPrintable(r.err));
        QVERIFY(!fs::exists(m_root / "full.json"));
    }

    void lowMemoryAndOffloadScoringThenExportComplete() {
        if (m_cgroup.empty()) QSKIP(qPrintable("MIXQ-SKIP: " + m_skip));
        for (const char* mode : {"low_memory", "offload"}) {
            const fs::path out = m_root / (std::string("scores_") + mode + ".json");
            const Run r = run_limited({"score", str(m_model), "--out", str(out), "--memory", mode, "--mode", "fast",
                                       "--samples", "2", "--seq-len", "16", "--offload-dir", str(m_root), "--json"});
            QVERIFY2(r.code == 0, qPrintable(QString("%1: exit %2: %3").arg(mode).arg(r.code).arg(r.err.right(400))));
            QVERIFY2(r.out.contains(QString("\"memory_mode\":\"%1\"").arg(mode)), qPrintable(r.out.left(300)));
            QVERIFY(fs::file_size(out) > 0);
        }
        const fs::path plan = m_root / "plan.json";
        Run r = run_limited({"plan", str(m_model), "--scores", str(m_root / "scores_low_memory.json"), "--target-bits",
                             "5", "--out", str(plan)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const fs::path exp = m_root / "export";
        r = run_limited({"export", str(m_model), "--plan", str(plan), "--out", str(exp), "--json"});
        QVERIFY2(r.code == 0, qPrintable(QString("export: exit %1: %2").arg(r.code).arg(r.err.right(400))));
        for (const char* f : {"model.onnx", "model.onnx.data", "genai_config.json"})
            QVERIFY2(fs::is_regular_file(exp / f) && fs::file_size(exp / f) > 0, f);
        // The export is about the model's size: it was streamed, never held whole under the 220 MiB limit.
        QVERIFY(fs::file_size(exp / "model.onnx.data") > (40ull << 20));
    }
};

QTEST_GUILESS_MAIN(TestCliMemoryLimits)
#include "test_cli_memory_limits.moc"
