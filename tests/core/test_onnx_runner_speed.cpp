// SPDX-License-Identifier: MIT
// The built-in ONNX runner's decode speed predicts the deployment runtime's: on a generated model exported
// int4-g32, int4-g128 and int8-g128 (accuracy_level 4, the export default), the runner's decode tokens/s on one
// thread is within 2x of ONNX Runtime's (npm onnxruntime-node through tests/ort/ort_bench.js) on the same file.
// Robust on a loaded 2-core machine: runner and ORT timings alternate, and each side's figure is its fastest
// single decode step over several runs (a whole run of steps is rarely spared a preemption there, one step
// often is); only their ratio is checked. Skips (MIXQ-SKIP) when node or onnxruntime-node is absent, unless CI
// is set.
#include <omp.h>

#include <QtTest>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/eval/onnx/onnx_model.h"
#include "core/eval/ort_speed.h"
#include "core/export/exporter.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_weights.h"
#include "export_test_models.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

constexpr int kPrompt = 16;         ///< prompt tokens before the timed decode steps (as ort_bench.js)
constexpr int kDecode = 48;         ///< timed decode steps per run
constexpr int kRounds = 4;          ///< alternations runner / ORT per export
constexpr int kRunsPerRound = 2;    ///< timed runs per side per round (best kept)
constexpr double kMaxFactor = 2.0;  ///< the runner's decode speed must be within this factor of ORT's

/// A ~77M-parameter llama (hidden 768, 12 layers, vocabulary 8192): its int4 weights (~40 MB) exceed the last-level
/// cache, so a decode step streams them from DRAM as on real models, and a step (~3 ms) is long against each
/// runtime's fixed per-step cost. (At 4 layers the weights stayed in cache and ORT's per-run overhead made the
/// runner look 1.9x faster than ORT, which real models do not show: 1.1-1.4x on the 100M model.)
std::shared_ptr<io::Model> speed_model(const fs::path& dir) {
    io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
    auto& c = s.config;
    c.hidden_size = 768;
    c.intermediate_size = 2048;
    c.num_layers = 12;
    c.num_heads = 12;
    c.num_kv_heads = 4;
    c.head_dim = 64;
    c.vocab_size = 8192;
    c.max_position_embeddings = 512;
    s.seed = 7;
    io::write_synthetic_model(dir, s);
    return io::Model::open(dir);
}

/// Decode tokens/s of the runner: 1 / its fastest decode step over `runs` runs (prompt of kPrompt, then kDecode
/// greedy steps), as ort_bench.js's decode_best_step_tokens_per_s.
double runner_decode(eval::onnx::OnnxModel& lm, int runs) {
    std::vector<int> prompt(kPrompt);
    for (int i = 0; i < kPrompt; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 13) % lm.vocab_size();
    double best = 0;
    for (int r = 0; r < runs; ++r) {
        auto s = lm.start(kPrompt + kDecode + 1);
        engine::RowMatrix logits = s->feed(prompt);
        for (int i = 0; i < kDecode; ++i) {
            Eigen::Index next;
            logits.row(logits.rows() - 1).maxCoeff(&next);
            const auto t0 = std::chrono::steady_clock::now();
            logits = s->feed({static_cast<int>(next)});
            best = std::max(best, 1.0 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    }
    return best;
}

/// ORT's decode tokens/s on `model`, the same way: ort_bench.js's fastest step over kRunsPerRound runs.
double ort_decode(const eval::OrtHarness& h, const fs::path& model) {
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("OMP_NUM_THREADS", "1");
    p.setProcessEnvironment(env);
    p.start("node", {QString::fromStdString((h.dir / "ort_bench.js").string()), QString::fromStdString(model.string()),
                     "--threads", "1", "--prompt", QString::number(kPrompt), "--gen", QString::number(kDecode),
                     "--runs", QString::number(kRunsPerRound)});
    if (!p.waitForFinished(120000) || p.exitCode() != 0) {
        qWarning("ort_bench.js failed: %s", p.readAllStandardError().constData());
        return 0;
    }
    const auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString(), nullptr, false);
    return j.is_discarded() ? 0.0 : j.value("decode_best_step_tokens_per_s", 0.0);
}

}  // namespace

class TestOnnxRunnerSpeed : public QObject {
    Q_OBJECT

private slots:
    void decodeWithinTwiceOnnxRuntime() {
        std::string why;
        const auto ort = eval::find_ort_harness(&why);
        if (!ort) {
            if (mixq_test::in_ci()) QFAIL(("CI is set but ONNX Runtime is not usable: " + why).c_str());
            qWarning("MIXQ-SKIP: %s; the runner-vs-ORT decode speed check is skipped", why.c_str());
            QSKIP("MIXQ-SKIP: ONNX Runtime not installed in tests/ort");
        }
        omp_set_num_threads(1);  // as ORT's session here: one intra-op thread
        const fs::path work = mixq_test::scratch("onnx_runner_speed");
        auto model = speed_model(work / "model");
        bool all_ok = true;
        for (const std::string f : {"int4-g32", "int4-g128", "int8-g128"}) {
            const fs::path out = work / f;
            exporter::ExportOptions o;
            o.accuracy_level = 4;
            exporter::export_onnx(*model, plan::make_model_plan(*model, mixq_test::uniform_format(f)), out, o);
            eval::onnx::OnnxModel lm(out);
            runner_decode(lm, 1);  // warm-up: page in the weights, size the buffers
            double best_runner = 0, best_ort = 0;
            for (int round = 0; round < kRounds; ++round) {
                best_ort = std::max(best_ort, ort_decode(*ort, out / "model.onnx"));
                best_runner = std::max(best_runner, runner_decode(lm, kRunsPerRound));
            }
            QVERIFY2(best_ort > 0, "ONNX Runtime timed no decode step");
            const double ratio = best_runner / best_ort;
            qInfo("%s decode (fastest step), 1 thread: runner %.1f tokens/s, ONNX Runtime %.1f tokens/s, runner/ORT %.2fx", f.c_str(),
                  best_runner, best_ort, ratio);
            if (!(ratio >= 1.0 / kMaxFactor && ratio <= kMaxFactor)) {
                qWarning("%s: the runner's decode speed is %.2fx ONNX Runtime's, outside [%.2f, %.2f]", f.c_str(),
                         ratio, 1.0 / kMaxFactor, kMaxFactor);
                all_ok = false;
            }
        }
        QVERIFY2(all_ok, "the built-in runner's decode speed does not predict ONNX Runtime's within 2x");
    }
};

QTEST_APPLESS_MAIN(TestOnnxRunnerSpeed)
#include "test_onnx_runner_speed.moc"
