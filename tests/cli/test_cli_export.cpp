// SPDX-License-Identifier: MIT
// The whole CLI pipeline on the demo model: score -> plan -> export, the export folder's files, `ppl --plan`
// agreeing with the plan's predicted direction, and export errors leaving no folder behind.
#include <QProcess>
#include <QtTest>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

using namespace mixq_cli_test;

class TestCliExport : public QObject {
    Q_OBJECT

private slots:
    void scorePlanExport() {
        const auto dir = mixq_test::scratch("cli_export");
        QCOMPARE(run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--samples", "4", "--seq-len", "32", "--quiet"}).code, 0);
        QCOMPARE(run_mixq({"plan", demo(), "--scores", str(dir / "s.json"), "--target-bits", "5", "--out",
                           str(dir / "plan.json")}).code, 0);
        const auto r = run_mixq({"export", demo(), "--plan", str(dir / "plan.json"), "--out", str(dir / "onnx"), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const char* f : {"model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json",
                              "tokenizer_config.json", "generation_config.json", "mixq_plan.json"})
            QVERIFY2(fs::exists(dir / "onnx" / f), f);
        const auto cfg = json::parse(mixq_test::read_text(dir / "onnx" / "genai_config.json"));
        QCOMPARE(cfg["model"]["decoder"]["num_hidden_layers"].get<int>(), 6);
        QCOMPARE(cfg["model"]["vocab_size"].get<int>(), 1024);
        // The plan inside the export is the plan that produced it.
        QCOMPARE(json::parse(mixq_test::read_text(dir / "onnx" / "mixq_plan.json"))["units"],
                 json::parse(mixq_test::read_text(dir / "plan.json"))["units"]);
        // A 5-bit plan's data file is far smaller than the 16-bit weights (2.48 MB of BF16 become 4.9 MB fp32).
        QVERIFY(fs::file_size(dir / "onnx" / "model.onnx.data") < 1'200'000);
    }

    void pplWithPlan() {
        const auto dir = mixq_test::scratch("cli_export_ppl");
        QCOMPARE(run_mixq({"score", demo(), "--out", str(dir / "s.json"), "--samples", "4", "--seq-len", "32", "--quiet"}).code, 0);
        QCOMPARE(run_mixq({"plan", demo(), "--scores", str(dir / "s.json"), "--preset", "rtn", "--out",
                           str(dir / "plan.json")}).code, 0);
        const QString text = str(mixq_test::golden_dir() / "heldout.txt");
        const auto base = run_mixq({"ppl", demo(), "--text", text, "--max-tokens", "4096", "--json"});
        const auto quant = run_mixq({"ppl", demo(), "--text", text, "--max-tokens", "4096", "--plan", str(dir / "plan.json"), "--json"});
        QCOMPARE(base.code, 0);
        QCOMPARE(quant.code, 0);
        const double b = json::parse(base.out.toStdString())["ppl"], q = json::parse(quant.out.toStdString())["ppl"];
        qInfo("perplexity fp %.4f, all-int4 plan %.4f", b, q);
        QVERIFY(q > b);          // quantization costs something
        QVERIFY(q < 1.1 * b);    // ...but int4 on this model costs a few percent, not a collapse
    }

    void exportErrorsLeaveNothing() {
        const auto dir = mixq_test::scratch("cli_export_bad");
        auto r = run_mixq({"export", demo(), "--plan", str(dir / "missing.json"), "--out", str(dir / "out")});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("missing.json"));
        r = run_mixq({"export", demo(), "--plan", str(dir / "missing.json"), "--out", str(dir / "no" / "such" / "out")});
        QCOMPARE(r.code, 1);
        QVERIFY(!fs::exists(dir / "out"));
        QVERIFY(fs::is_empty(dir));
    }
};

QTEST_GUILESS_MAIN(TestCliExport)
#include "test_cli_export.moc"
