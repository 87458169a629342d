// SPDX-License-Identifier: MIT
// `mixq score` -> `mixq plan` end to end on the demo model: a target plan within budget, the frontier, presets,
// pins, Olive / AutoRound export notes and imports, and the one-line errors for a foreign scores file, an unknown
// pin, an unknown override key and an unreachable target.
#include <QProcess>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

using namespace mixq_cli_test;

namespace {
void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
}  // namespace

class TestCliPlan : public QObject {
    Q_OBJECT
    fs::path m_dir;
    QString m_scores;

private slots:
    void initTestCase() {
        m_dir = mixq_test::scratch("cli_plan");
        m_scores = str(m_dir / "scores.json");
        const auto r = run_mixq({"score", demo(), "--out", m_scores, "--samples", "4", "--seq-len", "32", "--quiet"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
    }

    void targetPlanWithinBudget() {
        for (double target : {4.7, 5.5, 8.3}) {
            const auto out = m_dir / "plan.json";
            const auto r = run_mixq({"plan", demo(), "--scores", m_scores, "--target-bits", QString::number(target), "--out",
                                     str(out), "--json"});
            QVERIFY2(r.code == 0, qPrintable(r.err));
            const auto p = json::parse(mixq_test::read_text(out));
            // Recompute the average from the per-unit storage in the file: Σ bits / Σ weights.
            double bits = 0, weights = 0;
            for (const auto& u : p["units"]) {
                bits += u["storage_bits"].get<double>();
                weights += u["weights"].get<double>();
            }
            QVERIFY(bits / weights <= target + 1e-9);
            QVERIFY(std::fabs(bits / weights - p["average_bits"].get<double>()) < 1e-9);
        }
    }

    void frontierIsMonotone() {
        const auto r = run_mixq({"plan", demo(), "--scores", m_scores, "--frontier", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = json::parse(r.out.toStdString());
        const auto& pts = j["points"];
        QVERIFY(pts.size() > 10);
        for (size_t i = 1; i < pts.size(); ++i) {
            QVERIFY(pts[i]["avg_bits"].get<double>() > pts[i - 1]["avg_bits"].get<double>());
            QVERIFY(pts[i]["predicted_kld"].get<double>() < pts[i - 1]["predicted_kld"].get<double>());
        }
    }

    void presetsAndPins() {
        const auto out = m_dir / "mixed.json";
        auto r = run_mixq({"plan", demo(), "--scores", m_scores, "--preset", "k_quant_mixed", "--out", str(out)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        auto p = json::parse(mixq_test::read_text(out));
        // 6 layers: use_more_bits = {i < 0 || i >= 5 || (i - 0) % 3 == 2} = {2, 5}: qkv and down at 8 bits
        for (const auto& u : p["units"]) {
            const std::string name = u["name"];
            const bool eight = name == "layers.2.qkv" || name == "layers.5.qkv" || name == "layers.2.down" ||
                               name == "layers.5.down" || name == "tied_embedding";
            QVERIFY2(QString::fromStdString(u["format"].get<std::string>()).startsWith(eight ? "int8" : "int4"),
                     name.c_str());
        }
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--target-bits", "5", "--pin",
                      "model.layers.3.self_attn.k_proj.weight=int8-g128", "--out", str(out)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        p = json::parse(mixq_test::read_text(out));
        for (const auto& u : p["units"])
            if (u["name"] == "layers.3.qkv") QCOMPARE(u["format"].get<std::string>(), std::string("int8-g128"));
    }

    // Exports say in one line per problem what the tool will do (stderr, or "interop" with --json); imports read
    // the tools' own shapes (AutoRound's {"scheme": "W8A16"}, Olive's quantization_config with top-level defaults).
    void interopExportsAndImports() {
        const auto o = m_dir / "olive.json", a = m_dir / "autoround.json";
        auto r = run_mixq({"plan", demo(), "--scores", m_scores, "--preset", "k_quant_mixed", "--export-olive", str(o),
                           "--export-autoround", str(a)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("mixq: note: " + str(o) + ": ") && r.err.contains("\"type\": \"KQuant\""), qPrintable(r.err));
        QVERIFY2(r.err.contains("mixq: note: " + str(a) + ": AutoRound quantizes embeddings only for GGUF"), qPrintable(r.err));
        QVERIFY(!QString::fromStdString(mixq_test::read_text(o)).contains("method"));
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--preset", "k_quant_mixed", "--export-autoround", str(a), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto j = json::parse(r.out.toStdString());
        QCOMPARE(j["interop"]["exports"][0]["tool"].get<std::string>(), std::string("autoround"));
        QVERIFY(j["interop"]["exports"][0]["notes"].size() >= 2);

        const auto ar = m_dir / "ar.json";
        write_text(ar, R"({"model.layers.0.mlp.down_proj": {"scheme": "W8A16"}})");
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--import-overrides", str(ar), "--target-bits", "6", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const auto& u : json::parse(r.out.toStdString())["units"])
            if (u["name"] == "layers.0.down") QCOMPARE(u["format"].get<std::string>(), std::string("int8-g128-sym"));
        const auto qc = m_dir / "config.json";
        write_text(qc, R"({"quantization_config": {"quant_method": "olive", "bits": 4, "group_size": 32,
            "symmetric": true, "lm_head": true, "embeds": true, "overrides": {"model.layers.1.mlp.down_proj": {"bits": 8}}}})");
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--import-overrides", str(qc), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        for (const auto& u : json::parse(r.out.toStdString())["units"])
            QCOMPARE(u["format"].get<std::string>(), std::string(u["name"] == "layers.1.down" ? "int8-g32-sym" : "int4-g32-sym"));
        write_text(ar, R"({"model.layers.0.mlp.down_proj": {"bits": 8, "method": "k_quant"}})");
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--import-overrides", str(ar), "--target-bits", "6"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.startsWith("mixq: error: " + str(ar) + ": 'model.layers.0.mlp.down_proj': unknown key 'method'"), qPrintable(r.err));
        QCOMPARE(r.err.count('\n'), 1);
    }

    void badInputs() {
        // scores of another model (a synthetic one) -> hash mismatch
        const auto other = m_dir / "other";
        QCOMPARE(run_mixq({"gen-model", str(other), "--preset", "tiny"}).code, 0);
        const auto other_scores = str(m_dir / "other_scores.json");
        QCOMPARE(run_mixq({"score", str(other), "--out", other_scores, "--samples", "2", "--seq-len", "16", "--quiet"}).code, 0);
        auto r = run_mixq({"plan", demo(), "--scores", other_scores, "--target-bits", "5", "--out", str(m_dir / "x.json")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("other_scores.json") && r.err.contains("hash"), qPrintable(r.err));
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--target-bits", "5", "--pin", "layers.99.qkv=int8-g128",
                      "--out", str(m_dir / "x.json")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("layers.99.qkv"), qPrintable(r.err));
        r = run_mixq({"plan", demo(), "--scores", m_scores, "--target-bits", "2", "--out", str(m_dir / "x.json")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("smallest reachable"), qPrintable(r.err));
        QVERIFY(!fs::exists(m_dir / "x.json"));
    }
};

QTEST_GUILESS_MAIN(TestCliPlan)
#include "test_cli_plan.moc"
