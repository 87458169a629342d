// SPDX-License-Identifier: MIT
// `mixq score` end to end: scores.json from the built-in calibration text, memory modes agreeing while
// low_memory/offload keep peak RSS (VmHWM) below full on a generated ~300 MB model, SIGINT cancellation leaving
// no file, and bad calibration input.
#include <QProcess>
#include <QtTest>
#include <csignal>
#include <nlohmann/json.hpp>

#include "core/io/synthetic_model.h"
#include "cli_test_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

using namespace mixq_cli_test;

class TestCliScore : public QObject {
    Q_OBJECT

private slots:
    void scoresDemoModel() {
        const auto out = mixq_test::scratch("cli_score") / "scores.json";
        const auto r = run_mixq({"score", demo(), "--out", str(out), "--samples", "4", "--seq-len", "32", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = json::parse(mixq_test::read_text(out));
        QCOMPARE(j["schema"].get<std::string>(), std::string("mixq.scores/1"));
        QCOMPARE(j["units"].size(), size_t(25));
        QCOMPARE(j["calibration"]["source"].get<std::string>(), std::string("builtin"));
        QVERIFY(QString::fromStdString(j["memory_reason"].get<std::string>()).startsWith("memory mode auto-selected: full"));
        for (const auto& u : j["units"])
            QVERIFY(u["scores"]["int8-g128"]["kld"].get<double>() < u["scores"]["int4-g32"]["kld"].get<double>());
    }

    void lowMemoryAndOffloadUseLessMemory() {
        // ~154M parameters (308 MB of BF16): fp32-resident full mode needs ~600 MB more than streaming one layer.
        const auto dir = mixq_test::scratch("cli_score_big");
        auto spec = mixq::io::SyntheticSpec::preset("100m");
        spec.config.hidden_size = 1024;
        spec.config.num_heads = 16;
        spec.config.num_kv_heads = 4;
        spec.config.head_dim = 64;
        spec.config.intermediate_size = 4096;
        spec.config.num_layers = 8;
        spec.config.vocab_size = 32000;
        mixq::io::write_synthetic_model(dir / "m", spec);
        std::map<std::string, json> runs;
        for (const char* mode : {"full", "low_memory", "offload"}) {
            const auto out = dir / (std::string(mode) + ".json");
            const auto r = run_mixq({"score", str(dir / "m"), "--out", str(out), "--samples", "1", "--seq-len", "16",
                                 "--candidates", "int4-g128", "--memory", mode, "--offload-dir", str(dir / "off"), "--json"});
            QVERIFY2(r.code == 0, qPrintable(r.err));
            runs[mode] = json::parse(r.out.toStdString());
            qInfo("%s: peak RSS %.0f MiB, %.1f s", mode, runs[mode]["peak_rss_mb"].get<double>(),
                  runs[mode]["seconds"].get<double>());
        }
        const double full = runs["full"]["peak_rss_mb"], low = runs["low_memory"]["peak_rss_mb"],
                     off = runs["offload"]["peak_rss_mb"];
        QVERIFY2(low < 0.7 * full, qPrintable(QString("low %1 full %2").arg(low).arg(full)));
        QVERIFY2(off < 0.7 * full, qPrintable(QString("offload %1 full %2").arg(off).arg(full)));
        for (size_t u = 0; u < runs["full"]["units"].size(); ++u)
            for (const char* mode : {"low_memory", "offload"}) {
                const double a = runs["full"]["units"][u]["scores"]["int4-g128"]["kld"];
                const double b = runs[mode]["units"][u]["scores"]["int4-g128"]["kld"];
                QVERIFY(std::fabs(a - b) <= 1e-6 * std::max(a, 1e-12));
            }
        QVERIFY(!fs::exists(dir / "off") || fs::is_empty(dir / "off"));
    }

    void sigintCancels() {
        const auto out = mixq_test::scratch("cli_score_cancel") / "scores.json";
        QProcess p;
        p.start(MIXQ_CLI_EXE, {"score", demo(), "--out", str(out), "--samples", "64", "--seq-len", "128"});
        QVERIFY(p.waitForStarted());
        QTest::qWait(1500);
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(5000));
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(!fs::exists(out));
        for (const auto& e : fs::directory_iterator(out.parent_path())) QFAIL(e.path().c_str());
    }

    void badCalibration() {
        const auto dir = mixq_test::scratch("cli_score_bad");
        const auto r = run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--calib", str(dir / "none.txt")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("none.txt") && r.err.contains("cannot open: no such file"), qPrintable(r.err));
        std::ofstream(dir / "empty.txt") << "";
        const auto e = run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--calib", str(dir / "empty.txt")});
        QCOMPARE(e.code, 1);
        QVERIFY(e.err.contains("empty.txt") && e.err.contains("empty"));
        const auto c = run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--candidates", "int3-g32"});
        QCOMPARE(c.code, 1);
        QVERIFY(c.err.contains("int3-g32"));
        for (const char* bad : {"--fast-estimator", "--fisher-samples"}) {  // usage: one line, exit 2, nothing written
            const auto f = run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--mode", "fast", bad, "0"});
            QCOMPARE(f.code, 2);
            QVERIFY2(f.err.trimmed().split('\n').size() == 1 && f.err.contains(QString(bad)), qPrintable(f.err));
        }
        QVERIFY(!fs::exists(dir / "s.json"));
    }
};

QTEST_GUILESS_MAIN(TestCliScore)
#include "test_cli_score.moc"
