// SPDX-License-Identifier: MIT
// The mixq executable end to end: info/tokenize/logits/ppl/generate against the goldens, exit codes and
// one-line errors on bad input, and no partial output files.
#include <QProcess>
#include <QtTest>
#include <cmath>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run mixq(const QStringList& args, int timeout_ms = 300000) {
    QProcess p;
    p.start(MIXQ_CLI_EXE, args);
    p.waitForFinished(timeout_ms);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

QString demo() { return QString::fromStdString(mixq_test::demo_model().string()); }

/// Exit `code` (1: bad input, 2: usage error) with one "mixq: error: " line containing `fragment`.
bool one_line_error(const Run& r, const QString& fragment, int code = 1) {
    const QString e = r.err.trimmed();
    return r.code == code && e.startsWith("mixq: error: ") && !e.contains('\n') && e.contains(fragment);
}

}  // namespace

class TestCliFoundation : public QObject {
    Q_OBJECT

private slots:
    void evalDefaultsToTheShippedData() {
        // No task flags: the MMLU-Redux sample, PIQA and the held-out text shipped with MixQ (resources/eval-data in a
        // build tree) are evaluated, first N of each in the documented order; `builtin` names them explicitly.
        const auto r = mixq({"eval", demo(), "--limit", "2", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = json::parse(r.out.toStdString());
        const std::string mmlu = j["settings"]["data"]["mmlu"].get<std::string>();
        QVERIFY2(mmlu.size() > 14 && mmlu.compare(mmlu.size() - 14, 14, "eval-data/mmlu") == 0, mmlu.c_str());
        QCOMPARE(j["tasks"]["mmlu"]["target"]["n"].get<int64_t>(), int64_t(2));
        QCOMPARE(j["tasks"]["piqa"]["target"]["n"].get<int64_t>(), int64_t(2));
        const std::string ppl = j["settings"]["data"]["ppl"].get<std::string>();
        QVERIFY2(ppl.size() > 26 && ppl.compare(ppl.size() - 26, 26, "eval-data/text/heldout.txt") == 0, ppl.c_str());
        const double tokens = j["tasks"]["ppl"]["target"]["tokens"].get<double>();
        QVERIFY2(tokens > 100, qPrintable(QString::number(tokens)));  // 6.3 KB of text, at most 2 windows of 128
        QVERIFY(std::isfinite(j["tasks"]["ppl"]["target"]["ppl"].get<double>()));
        const auto only = mixq({"eval", demo(), "--limit", "2", "--piqa", "builtin", "--json"});
        QVERIFY2(only.code == 0, qPrintable(only.err));
        const auto k = json::parse(only.out.toStdString());
        QVERIFY(k["settings"]["data"]["mmlu"].is_null());
        QVERIFY(k["settings"]["data"]["ppl"].is_null());  // a task named: only that task
        for (const char* key : {"n", "acc", "acc_norm"})
            QCOMPARE(k["tasks"]["piqa"]["target"][key], j["tasks"]["piqa"]["target"][key]);
    }

    void infoJson() {
        const auto r = mixq({"info", demo(), "--json"});
        QCOMPARE(r.code, 0);
        const auto j = json::parse(r.out.toStdString());
        QCOMPARE(j["num_layers"].get<int>(), 6);
        QCOMPARE(j["parameters"].get<int64_t>(), int64_t(1238656));
        QCOMPARE(j["linear_layers"].size(), size_t(43));
        QCOMPARE(j["tied_embeddings"].get<bool>(), true);
    }

    void openmpWaitsPassivelyUnlessTheUserChose() {
        // The program re-executes itself with OMP_WAIT_POLICY=passive when the variable is unset (libgomp reads it
        // once at load; spinning waits made a fast score 8x slower on a shared machine); a user's choice stands.
        for (const QString& given : {QString(), QString("active")}) {
            QProcess p;
            auto env = QProcessEnvironment::systemEnvironment();
            env.remove("OMP_WAIT_POLICY");
            if (!given.isEmpty()) env.insert("OMP_WAIT_POLICY", given);
            p.setProcessEnvironment(env);
            p.start(MIXQ_CLI_EXE, {"devices", "--json"});
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitCode(), 0);
            const auto j = json::parse(p.readAllStandardOutput().toStdString());
            QCOMPARE(QString::fromStdString(j["cpu"]["omp_wait_policy"].get<std::string>()),
                     given.isEmpty() ? QString("passive") : given);
        }
    }

    void tokenizeMatchesGolden() {
        const auto summary = json::parse(mixq_test::read_text(mixq_test::golden_dir() / "summary.json"));
        for (const auto& s : summary["tokenizer_samples"]) {
            const auto r = mixq({"tokenize", demo(), "--text", QString::fromStdString(s["text"].get<std::string>()), "--json"});
            QCOMPARE(r.code, 0);
            QCOMPARE(json::parse(r.out.toStdString())["ids"], s["ids"]);
        }
    }

    void logitsFileMatchesGolden() {
        const auto summary = json::parse(mixq_test::read_text(mixq_test::golden_dir() / "summary.json"));
        QStringList ids;
        for (int id : summary["input_ids"]) ids << QString::number(id);
        const auto out = mixq_test::scratch("cli_logits") / "l.f32";
        const auto r = mixq({"logits", demo(), "--ids", ids.join(','), "--out", QString::fromStdString(out.string())});
        QCOMPARE(r.code, 0);
        const std::string got = mixq_test::read_text(out), ref = mixq_test::read_text(mixq_test::golden_dir() / "logits.f32");
        QCOMPARE(got.size(), ref.size());
        const float* a = reinterpret_cast<const float*>(got.data());
        const float* b = reinterpret_cast<const float*>(ref.data());
        float worst = 0;
        for (size_t i = 0; i < got.size() / 4; ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
        QVERIFY(worst <= 1e-3f);
    }

    void pplJson() {
        const auto summary = json::parse(mixq_test::read_text(mixq_test::golden_dir() / "summary.json"));
        const auto r = mixq({"ppl", demo(), "--text", QString::fromStdString((mixq_test::golden_dir() / "heldout.txt").string()),
                             "--window", "128", "--max-tokens", "4096", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = json::parse(r.out.toStdString());
        QCOMPARE(j["tokens"].get<int>(), 31 * 128);  // starts 0..3840 (< 4096 - 128)
        QVERIFY(j["ppl"].get<double>() > 10 && j["ppl"].get<double>() < 60);
    }

    void generateGreedy() {
        // "And God said" continues as the model card's greedy sample: ", unto him, What is this man?"
        const auto r = mixq({"generate", demo(), "--prompt", "And God said", "-n", "8", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = json::parse(r.out.toStdString());
        QCOMPARE(j["ids"].size(), size_t(8));
        QVERIFY2(QString::fromStdString(j["text"].get<std::string>()).startsWith(" unto him, What is this"),
                 j["text"].get<std::string>().c_str());
    }

    void badInputs() {
        const auto dir = mixq_test::scratch("cli_bad");
        const QString d = QString::fromStdString(dir.string());
        QVERIFY(one_line_error(mixq({"info", d}), "config.json"));
        QVERIFY(one_line_error(mixq({"info", d + "/missing"}), "not a folder"));
        fs::copy_file(mixq_test::demo_model() / "config.json", dir / "config.json");
        {
            const auto bytes = mixq_test::read_text(mixq_test::demo_model() / "model.safetensors");
            std::ofstream(dir / "model.safetensors", std::ios::binary).write(bytes.data(), 1000);
        }
        QVERIFY(one_line_error(mixq({"info", d}), "model.safetensors"));
        QCOMPARE(mixq({"frobnicate"}).code, 2);
        QVERIFY(one_line_error(mixq({"info", demo(), "--bogus"}), "unknown option --bogus", 2));
        QVERIFY(one_line_error(mixq({"logits", demo(), "--ids", "1,x", "--out", d + "/o.f32"}), "--ids", 2));
        QVERIFY(one_line_error(mixq({"logits", demo(), "--ids", "5000", "--out", d + "/o.f32"}), "outside the vocabulary"));
        QVERIFY(!fs::exists(dir / "o.f32"));
        // nothing partial is left behind: no temporary files in the folder
        for (const auto& e : fs::directory_iterator(dir))
            QVERIFY2(e.path().filename().string().find(".tmp-") == std::string::npos, e.path().c_str());
        QVERIFY(one_line_error(mixq({"ppl", demo(), "--text", d + "/none.txt"}), "none.txt"));
    }
};

QTEST_GUILESS_MAIN(TestCliFoundation)
#include "test_cli_foundation.moc"
