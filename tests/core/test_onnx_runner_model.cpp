// SPDX-License-Identifier: MIT
// The built-in ONNX runner on real exports (core/export): the demo model with int4 / int8 / mixed / 16-bit plans
// (packed and unpacked QKV, fused gate|up, shared and separate tied tables) and synthetic qwen2 / qwen3 / odd-size
// models, at accuracy_level 0 and 4. Its logits equal the CPU engine's with the same plan's fake-quant weights
// (level 0: max abs <= 1e-3; level 4: both emulate ORT's int8 activation blocks, bounds in logit_agreement.h) for a
// prefill, a decode step on the KV cache, a chunk on it and a forked session; and equal ONNX Runtime's on the
// same file (npm onnxruntime-node through tests/ort/ort_run.js; that one check skips with MIXQ-SKIP when ORT is
// not installed in tests/ort). Sliding-window models (mistral, qwen2 per layer) carry local_window_size per layer.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#include <onnx/onnx_pb.h>

#include <QProcess>
#include <QStandardPaths>
#include <QtTest>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/eval/onnx/onnx_model.h"
#include "core/export/exporter.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_weights.h"
#include "export_test_models.h"
#include "logit_agreement.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;
using nlohmann::json;
using quant::QuantFormat;
using mixq_test::fmt;
using mixq_test::ort_dir;
using mixq_test::token_ids;
using mixq_test::kTolerance;

namespace {



float max_abs_diff(const engine::RowMatrix& a, const engine::RowMatrix& b) {
    if (a.rows() != b.rows() || a.cols() != b.cols()) return 1e30f;
    return (a - b).cwiseAbs().maxCoeff();
}

struct Case {
    std::string name;
    std::shared_ptr<io::Model> model;
    plan::Plan plan;
    exporter::ExportOptions options;
    fs::path out;
};

}  // namespace

class TestOnnxRunnerModel : public QObject {
    Q_OBJECT

    fs::path m_work;
    std::vector<Case> m_cases;

private slots:
    void initTestCase() {
        m_work = mixq_test::scratch("onnx_runner_model");
        auto demo = io::Model::open(mixq_test::demo_model());
        const auto uniform = mixq_test::uniform_format;
        const auto mixed = mixq_test::mixed_format;
        const mixq_test::ExportVariants v;
        const auto &packed = v.packed, &unpacked = v.unpacked, &packed_off = v.packed_off;
        auto add = [&](const std::string& name, std::shared_ptr<io::Model> m,
                       const std::function<QuantFormat(const io::QuantUnit&)>& choose, exporter::ExportOptions o,
                       int level = 0) {
            Case c;
            c.name = name + (level == 0 ? "" : ", level " + std::to_string(level));
            o.accuracy_level = level;
            c.model = std::move(m);
            c.plan = plan::make_model_plan(*c.model, choose);
            c.options = o;
            c.out = m_work / ("case" + std::to_string(m_cases.size()));
            exporter::export_onnx(*c.model, c.plan, c.out, c.options);
            m_cases.push_back(std::move(c));
        };
        add("demo int4 packed+fused+tied", demo, uniform("int4-g32"), packed);
        add("demo int8 unpacked+separate", demo, uniform("int8-g128-sym"), unpacked);
        add("demo mixed packed+fused+tied", demo, mixed, packed);
        add("demo mixed unpacked+separate", demo, mixed, unpacked);
        add("demo 16-bit tied table", demo, [](const io::QuantUnit&) { return QuantFormat::float16(); }, packed);
        add("demo 16-bit tied off", demo, [](const io::QuantUnit&) { return QuantFormat::float16(); }, packed_off);
        add("qwen2 biases, own embedding", mixq_test::synthetic_export_model(m_work / "qwen2", "qwen2", 64, 4, 2, false, false),
            [](const io::QuantUnit& u) {
                return u.kind == io::UnitKind::Embedding ? fmt("int4-g16")
                       : u.kind == io::UnitKind::LmHead  ? fmt("int8-g32-sym")
                                                         : fmt("int4-g32");
            },
            packed);
        add("qwen3 q/k norm", mixq_test::synthetic_export_model(m_work / "qwen3", "qwen3", 64, 4, 2, true, true), mixed, packed);
        // accuracy_level 4 (int8 activation blocks, the export default): the runner emulates ORT's CompInt8.
        add("demo int4 packed+fused+tied", demo, uniform("int4-g32"), packed, 4);
        add("demo int8 unpacked+separate", demo, uniform("int8-g128-sym"), unpacked, 4);
        add("demo mixed packed+fused+tied", demo, mixed, packed, 4);
        add("hidden 96, block 64", mixq_test::synthetic_export_model(m_work / "odd", "llama", 96, 2, 1, true, false), uniform("int4-g64"), packed);
        // Sliding-window attention (local_window_size per layer), windows shorter than the 14-token prompt.
        add("mistral window 4", mixq_test::synthetic_export_model(m_work / "mistral_w", "mistral", 64, 4, 2, false, false, "none", 4),
            mixed, packed);
        add("qwen2 window 5 on layer 1", mixq_test::synthetic_export_model(m_work / "qwen2_w", "qwen2", 64, 4, 2, true, false, "none", 5),
            mixed, unpacked);
    }

    void slidingWindowIsPerLayerInTheGraph() {
        // The engine's window (keys (p - W, p]) is GroupQueryAttention's local_window_size W (ORT 1.30 CPU, and
        // what ORT GenAI's builder writes); full-attention layers keep -1.
        for (const auto& c : m_cases) {
            onnx::ModelProto m;
            std::ifstream in(c.out / "model.onnx", std::ios::binary);
            QVERIFY(m.ParseFromIstream(&in));
            std::vector<int64_t> got, want;
            for (const auto& n : m.graph().node())
                if (n.op_type() == "GroupQueryAttention")
                    for (const auto& a : n.attribute())
                        if (a.name() == "local_window_size") got.push_back(a.i());
            for (int i = 0; i < c.model->config().num_layers; ++i)
                want.push_back(c.model->config().window(i) > 0 ? c.model->config().window(i) : -1);
            QCOMPARE(got, want);
        }
        QCOMPARE(m_cases[m_cases.size() - 2].model->config().window(1), 4);
        QCOMPARE(m_cases.back().model->config().window(0), 0);
        QCOMPARE(m_cases.back().model->config().window(1), 5);
    }

    void runnerMatchesEngine() {
        const int T = 14;
        bool all_ok = true;
        for (size_t i = 0; i < m_cases.size(); ++i) {
            const Case& c = m_cases[i];
            const int V = c.model->config().vocab_size;
            const auto ids = token_ids(T, V, 11 + static_cast<uint32_t>(i));
            engine::Transformer tf(c.model);
            const engine::RowMatrix ref_fp = tf.forward(ids);
            plan::apply_plan_fake_quant(tf, *c.model, c.plan, c.options.accuracy_level);
            const engine::RowMatrix ref = tf.forward(ids);

            eval::onnx::OnnxModel lm(c.out);
            QCOMPARE(lm.vocab_size(), V);
            QVERIFY(lm.runner().folded_nodes() > 0);  // at least the shared Constant nodes
            QVERIFY(lm.kv_in_place());  // the sessions below append to full-capacity caches (fork: copies)
            // Prefill of everything.
            const engine::RowMatrix full = lm.logits(ids);
            // Prefix, then one decode step, then a 3-token chunk, all on the KV cache.
            auto s = lm.start(T + 8);
            const int P = T - 4;
            const engine::RowMatrix a = s->feed(std::vector<int>(ids.begin(), ids.begin() + P));
            auto fork = s->fork();
            const engine::RowMatrix b = s->feed({ids[static_cast<size_t>(P)]});
            const engine::RowMatrix d = s->feed(std::vector<int>(ids.begin() + P + 1, ids.end()));
            // The fork continues independently (other tokens than the original's).
            const std::vector<int> other = token_ids(3, V, 999);
            const engine::RowMatrix f = fork->feed(other);
            std::vector<int> ids_f(ids.begin(), ids.begin() + P);
            ids_f.insert(ids_f.end(), other.begin(), other.end());
            const engine::RowMatrix ref_f = tf.forward(ids_f);

            const float e_full = max_abs_diff(full, ref);
            const float e_a = max_abs_diff(a, ref.topRows(P));
            const float e_b = max_abs_diff(b, ref.middleRows(P, 1));
            const float e_d = max_abs_diff(d, ref.bottomRows(T - P - 1));
            const float e_f = max_abs_diff(f, ref_f.bottomRows(3));
            const float worst = std::max({e_full, e_a, e_b, e_d, e_f});
            const auto agree = mixq_test::row_agreement(ref.data(), full.data(), T, V);
            qInfo("%-30s max|runner - engine(plan)| prefill %.2e, prefix %.2e, decode %.2e, chunk %.2e, fork %.2e; "
                  "plan vs unquantized %.3f",
                  c.name.c_str(), e_full, e_a, e_b, e_d, e_f, max_abs_diff(ref, ref_fp));
            if (!mixq_test::logits_agree(c.options.accuracy_level, worst, agree)) {
                qWarning("%s: runner differs from the engine by %.3e, %d argmax mismatches, mean KL %.2e", c.name.c_str(),
                         worst, agree.argmax_mismatches, agree.mean_kl);
                all_ok = false;
            }
            QVERIFY(fork->length() == P + 3 && s->length() == T);
        }
        QVERIFY(all_ok);
        // The comparison can fail: the quantized plan moves the logits far more than the tolerance.
        engine::Transformer plain(m_cases[0].model);
        const auto ids = token_ids(T, 1024, 11);
        eval::onnx::OnnxModel lm(m_cases[0].out);
        QVERIFY(max_abs_diff(lm.logits(ids), plain.forward(ids)) > 100 * kTolerance);
    }

    void runnerMatchesOnnxRuntime() {
        const fs::path ort_pkg = ort_dir() / "node_modules" / "onnxruntime-node" / "package.json";
        if (QStandardPaths::findExecutable("node").isEmpty() || !fs::exists(ort_dir() / "ort_run.js") || !fs::exists(ort_pkg)) {
            qWarning("MIXQ-SKIP: ONNX Runtime is not installed in tests/ort (core_test_export_ort installs it with npm ci); "
                     "the runner-vs-ORT check is skipped, runner-vs-engine still ran");
            QSKIP("MIXQ-SKIP: ONNX Runtime not installed in tests/ort");
        }
        // One prefill per case through ort_run.js, the exporter engineer's runner script.
        const int T = 10;
        json jobs = json::array();
        std::vector<std::vector<int>> all_ids;
        for (size_t i = 0; i < m_cases.size(); ++i) {
            const auto& cfg = m_cases[i].model->config();
            const auto ids = token_ids(T, cfg.vocab_size, 500 + static_cast<uint32_t>(i));
            all_ids.push_back(ids);
            const fs::path dir = m_work / ("ort" + std::to_string(i));
            fs::create_directories(dir);
            std::vector<int64_t> ids64(ids.begin(), ids.end()), mask(ids.size(), 1);
            std::ofstream(dir / "ids.bin", std::ios::binary).write(reinterpret_cast<const char*>(ids64.data()), T * 8);
            std::ofstream(dir / "mask.bin", std::ios::binary).write(reinterpret_cast<const char*>(mask.data()), T * 8);
            std::ofstream(dir / "empty.bin", std::ios::binary);
            json in = {{"input_ids", {{"type", "int64"}, {"dims", {1, T}}, {"file", (dir / "ids.bin").string()}}},
                       {"attention_mask", {{"type", "int64"}, {"dims", {1, T}}, {"file", (dir / "mask.bin").string()}}}};
            for (int l = 0; l < cfg.num_layers; ++l)
                for (const char* kv : {"key", "value"})
                    in["past_key_values." + std::to_string(l) + "." + kv] = {
                        {"type", "float32"}, {"dims", {1, cfg.num_kv_heads, 0, cfg.head_dim}}, {"file", (dir / "empty.bin").string()}};
            jobs.push_back({{"model", (m_cases[i].out / "model.onnx").string()}, {"out_dir", (dir / "out").string()}, {"inputs", in}});
        }
        std::ofstream(m_work / "ort_jobs.json") << jobs.dump();
        QProcess p;
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert("ORT_DISABLE_TELEMETRY", "1");
        env.insert("OMP_NUM_THREADS", "1");
        p.setProcessEnvironment(env);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("node", {QString::fromStdString((ort_dir() / "ort_run.js").string()),
                         QString::fromStdString((m_work / "ort_jobs.json").string())});
        QVERIFY(p.waitForFinished(300000));
        QVERIFY2(p.exitCode() == 0, p.readAll().constData());
        bool all_ok = true;
        for (size_t i = 0; i < m_cases.size(); ++i) {
            const int V = m_cases[i].model->config().vocab_size;
            const std::string bytes = mixq_test::read_text(m_work / ("ort" + std::to_string(i)) / "out" / "logits.bin");
            QCOMPARE(bytes.size(), static_cast<size_t>(T * V * 4));
            engine::RowMatrix ort(T, V);
            std::memcpy(ort.data(), bytes.data(), bytes.size());
            eval::onnx::OnnxModel lm(m_cases[i].out);
            const engine::RowMatrix mine = lm.logits(all_ids[i]);
            const float e = max_abs_diff(mine, ort);
            const auto agree = mixq_test::row_agreement(mine.data(), ort.data(), T, V);
            qInfo("%-38s max|runner - ORT| %.2e, argmax mismatches %d, mean KL %.2e", m_cases[i].name.c_str(), e,
                  agree.argmax_mismatches, agree.mean_kl);
            if (!mixq_test::logits_agree(m_cases[i].options.accuracy_level, e, agree)) all_ok = false;
        }
        QVERIFY(all_ok);
    }

    void errorsNameTheProblem() {
        // A genai_config.json without the decoder's layer count, and a graph the config does not match.
        const fs::path dir = m_work / "broken";
        fs::remove_all(dir);
        fs::copy(m_cases[0].out, dir);
        json g = json::parse(mixq_test::read_text(dir / "genai_config.json"));
        g["model"]["decoder"].erase("num_hidden_layers");
        std::ofstream(dir / "genai_config.json") << g.dump();
        try {
            eval::onnx::OnnxModel lm(dir);
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("genai_config.json: missing model.decoder.num_hidden_layers"), e.what());
        }
        g["model"]["decoder"]["num_hidden_layers"] = 7;
        std::ofstream(dir / "genai_config.json") << g.dump();
        try {
            eval::onnx::OnnxModel lm(dir);
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("graph has no input 'past_key_values.6.key'"), e.what());
        }
    }
};

QTEST_APPLESS_MAIN(TestOnnxRunnerModel)
#include "test_onnx_runner_model.moc"
