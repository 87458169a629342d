// SPDX-License-Identifier: MIT
// Exported models run by real ONNX Runtime (npm onnxruntime-node 1.30.0, CPU EP; installed into tests/ort by this
// test with `npm ci`) reproduce the CPU engine with the same plan's fake-quant weights to <= 1e-3 max abs on the
// logits: pure int4, pure int8, mixed and 16-bit plans on the demo model, with and without packed QKV / fused
// gate|up / shared tied table, a prefill and a decode step through the KV cache, a batch of two, and synthetic
// qwen2 (biases, untied quantized embedding), qwen3 (q/k norm, file-packed qkv and gate_up split apart, llama3
// RoPE scaling) and a model whose hidden size is not a multiple of the block size. Skips (MIXQ-SKIP) only when
// node or npm is absent.
#include <QProcess>
#include <QStandardPaths>
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/half.h"
#include "core/engine/transformer.h"
#include "core/export/exporter.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_weights.h"
#include "core/tokenizer/tokenizer.h"
#include "export_test_models.h"
#include "logit_agreement.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;
using nlohmann::json;
using quant::QuantFormat;
using mixq_test::fmt;
using mixq_test::ort_dir;
using mixq_test::token_ids;
using mixq_test::RowAgreement;
using mixq_test::row_agreement;
using mixq_test::kTolerance;
using mixq_test::kMaxMeanKl;

namespace {



void write_bytes(const fs::path& p, const void* data, size_t n) {
    std::ofstream out(p, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

std::vector<float> read_floats(const fs::path& p) {
    const std::string s = mixq_test::read_text(p);
    std::vector<float> v(s.size() / 4);
    std::memcpy(v.data(), s.data(), v.size() * 4);
    return v;
}

struct Run {
    int code = -1;
    QString out;
};

Run run_process(const QString& exe, const QStringList& args, const QProcessEnvironment& env, int timeout_ms) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(exe, args);
    if (!p.waitForFinished(timeout_ms)) {
        p.kill();
        p.waitForFinished();
        return {-1, "timed out: " + QString::fromUtf8(p.readAll())};
    }
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAll())};
}

/// One model run: inputs written as raw files, outputs read back after the batch ran.
struct Job {
    std::string model;
    fs::path dir;
    json inputs = json::object();
};

class OrtBatch {
public:
    explicit OrtBatch(fs::path work) : m_work(std::move(work)) {}

    /// Adds a run of `model` on ids [batch, T] after a past of `past_len` positions; returns its index.
    size_t add(const fs::path& model, const std::vector<std::vector<int64_t>>& ids, int layers, int kv_heads, int head_dim,
               int past_len = 0, const std::vector<fs::path>& past_dirs = {}, const std::string& past_type = "float32") {
        Job j;
        j.model = model.string();
        j.dir = m_work / ("job" + std::to_string(m_jobs.size()));
        fs::create_directories(j.dir);
        const int64_t B = static_cast<int64_t>(ids.size()), T = static_cast<int64_t>(ids[0].size());
        std::vector<int64_t> flat, mask;
        for (const auto& row : ids) flat.insert(flat.end(), row.begin(), row.end());
        mask.assign(static_cast<size_t>(B * (past_len + T)), 1);
        write_bytes(j.dir / "ids.bin", flat.data(), flat.size() * 8);
        write_bytes(j.dir / "mask.bin", mask.data(), mask.size() * 8);
        j.inputs["input_ids"] = {{"type", "int64"}, {"dims", {B, T}}, {"file", (j.dir / "ids.bin").string()}};
        j.inputs["attention_mask"] = {{"type", "int64"}, {"dims", {B, past_len + T}}, {"file", (j.dir / "mask.bin").string()}};
        write_bytes(j.dir / "empty.bin", "", 0);
        for (int i = 0; i < layers; ++i)
            for (const char* kv : {"key", "value"}) {
                const std::string name = "past_key_values." + std::to_string(i) + "." + kv;
                const std::string file =
                    past_len == 0 ? (j.dir / "empty.bin").string()
                                  : (past_dirs.at(0) / ("present." + std::to_string(i) + "." + kv + ".bin")).string();
                j.inputs[name] = {{"type", past_type}, {"dims", {B, kv_heads, past_len, head_dim}}, {"file", file}};
            }
        m_jobs.push_back(std::move(j));
        return m_jobs.size() - 1;
    }

    /// Runs every job added since the last run in one node process; throws with node's output on failure.
    void run(const QProcessEnvironment& env) {
        json all = json::array();
        for (size_t i = m_ran; i < m_jobs.size(); ++i)
            all.push_back({{"model", m_jobs[i].model}, {"out_dir", (m_jobs[i].dir / "out").string()}, {"inputs", m_jobs[i].inputs}});
        const fs::path spec = m_work / ("jobs" + std::to_string(m_ran) + ".json");
        std::ofstream(spec) << all.dump();
        const Run r = run_process("node", {QString::fromStdString((ort_dir() / "ort_run.js").string()),
                                           QString::fromStdString(spec.string())},
                                  env, 300000);
        if (r.code != 0) throw std::runtime_error("ort_run.js failed: " + r.out.toStdString());
        m_ran = m_jobs.size();
    }

    fs::path out_dir(size_t job) const { return m_jobs[job].dir / "out"; }
    /// The logits as fp32 (float16 outputs of the cuda / dml targets widened exactly).
    std::vector<float> logits(size_t job) const {
        const json meta = json::parse(mixq_test::read_text(out_dir(job) / "outputs.json"));
        if (meta["logits"]["type"] != "float16") return read_floats(out_dir(job) / "logits.bin");
        const std::string raw = mixq_test::read_text(out_dir(job) / "logits.bin");
        std::vector<float> v(raw.size() / 2);
        for (size_t i = 0; i < v.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, raw.data() + 2 * i, 2);
            v[i] = f16_to_float(h);
        }
        return v;
    }
    std::string logits_type(size_t job) const {
        return json::parse(mixq_test::read_text(out_dir(job) / "outputs.json"))["logits"]["type"].get<std::string>();
    }

private:
    fs::path m_work;
    std::vector<Job> m_jobs;
    size_t m_ran = 0;
};

/// A model, a plan, export options and the engine logits to compare with.
struct Case {
    std::string name;
    std::shared_ptr<io::Model> model;
    plan::Plan plan;
    exporter::ExportOptions options;
    int level = 4;  // accuracy_level of the export (and of the engine's emulation)
    fs::path out;
    std::vector<int64_t> ids;
    size_t full = 0, prefix = 0, decode = 0, batch = 0;  // job indices
    engine::RowMatrix ref;        // engine, plan weights, ids [T, V]
    engine::RowMatrix ref_other;  // engine, plan weights, second batch row
    engine::RowMatrix ref_fp;     // engine, file weights (how far the plan is from the original)
};

float max_abs_diff(const float* a, const float* b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}


}  // namespace

class TestExportOrt : public QObject {
    Q_OBJECT

    QString m_skip;
    QProcessEnvironment m_env;
    fs::path m_work;

/// Skips the calling test slot, loudly, when node/npm are absent.
#define REQUIRE_ORT()                               \
    do {                                            \
        if (!m_skip.isEmpty()) {                    \
            qWarning("%s", qPrintable(m_skip));     \
            QSKIP(qPrintable(m_skip));              \
        }                                           \
    } while (0)

private slots:
    void initTestCase() {
        if (QStandardPaths::findExecutable("node").isEmpty() || QStandardPaths::findExecutable("npm").isEmpty()) {
            m_skip = "MIXQ-SKIP: node/npm are not installed, so ONNX Runtime (npm onnxruntime-node) cannot run";
            return;
        }
        m_env = QProcessEnvironment::systemEnvironment();
        m_env.insert("ONNXRUNTIME_NODE_INSTALL", "skip");  // the postinstall would fetch CUDA binaries
        m_env.insert("ORT_DISABLE_TELEMETRY", "1");
        m_env.insert("OMP_NUM_THREADS", "1");
        const fs::path pkg = ort_dir() / "node_modules" / "onnxruntime-node" / "package.json";
        bool installed = false;
        if (fs::exists(pkg)) {
            const json j = json::parse(mixq_test::read_text(pkg), nullptr, false);
            installed = !j.is_discarded() && j.value("version", "") == "1.30.0";
        }
        if (!installed) {
            const Run r = run_process("npm", {"ci", "--prefix", QString::fromStdString(ort_dir().string()), "--no-audit",
                                              "--no-fund"},
                                      m_env, 600000);
            QVERIFY2(r.code == 0, qPrintable("npm ci in tests/ort failed: " + r.out));
        }
        QVERIFY2(fs::exists(pkg), "onnxruntime-node is missing after npm ci");
        m_work = mixq_test::scratch("export_ort");
    }

    void exportedLogitsMatchTheEngine() {
        REQUIRE_ORT();
        auto demo = io::Model::open(mixq_test::demo_model());
        const auto uniform = mixq_test::uniform_format;
        const auto mixed = mixq_test::mixed_format;
        const mixq_test::ExportVariants v;
        const auto &packed = v.packed, &unpacked = v.unpacked, &packed_off = v.packed_off;

        std::vector<Case> cases;
        auto add = [&](const std::string& name, std::shared_ptr<io::Model> m,
                       const std::function<QuantFormat(const io::QuantUnit&)>& choose, exporter::ExportOptions o,
                       int level = 4) {
            Case c;
            c.name = name + (level == 4 ? "" : ", level " + std::to_string(level));
            c.model = std::move(m);
            c.plan = plan::make_model_plan(*c.model, choose);
            c.options = o;
            c.options.accuracy_level = c.level = level;
            cases.push_back(std::move(c));
        };
        // accuracy_level 0 (fp32 activations): the file computes exactly the engine's fake-quant weights.
        add("int4 packed+fused+tied", demo, uniform("int4-g32"), packed, 0);
        add("int8 unpacked+separate", demo, uniform("int8-g128-sym"), unpacked, 0);
        add("mixed packed+fused+tied", demo, mixed, packed, 0);
        // accuracy_level 4 (the default, int8 activation blocks) against the engine's emulation of it.
        add("int4 packed+fused+tied", demo, uniform("int4-g32"), packed);
        add("int4 unpacked+separate", demo, uniform("int4-g32"), unpacked);
        add("int4 sym k-quant, packed+tied", demo, uniform("int4-g32-sym-kquant"), exporter::ExportOptions{});
        add("int8 packed+fused+tied", demo, uniform("int8-g128-sym"), packed);
        add("int8 unpacked+separate", demo, uniform("int8-g128-sym"), unpacked);
        add("mixed packed+fused+tied", demo, mixed, packed);
        add("mixed unpacked+separate", demo, mixed, unpacked);
        add("16-bit packed+tied", demo, [](const io::QuantUnit&) { return QuantFormat::float16(); }, packed);
        add("16-bit tied off", demo, [](const io::QuantUnit&) { return QuantFormat::float16(); }, packed_off);
        // qwen2: q/k/v biases, untied: quantized embedding on its own table + int8 lm_head.
        auto qwen2 = mixq_test::synthetic_export_model(m_work / "qwen2", "qwen2", 64, 4, 2, false, false, "none");
        add("qwen2 biases, own embedding table", qwen2,
            [](const io::QuantUnit& u) {
                return u.kind == io::UnitKind::Embedding ? fmt("int4-g16")
                       : u.kind == io::UnitKind::LmHead  ? fmt("int8-g32-sym")
                                                         : fmt("int4-g32");
            },
            packed);
        // qwen3: q/k norm; the file packs qkv and gate_up, the export splits them; llama3 RoPE scaling.
        auto qwen3 = mixq_test::synthetic_export_model(m_work / "qwen3", "qwen3", 64, 4, 2, true, true, "llama3");
        add("qwen3 q/k norm, file-packed split", qwen3, uniform("int8-g16"), unpacked);
        add("qwen3 q/k norm, packed+fused", qwen3, mixed, packed);
        // hidden 96 with block 64: partial last block, and the shared table needs a Slice after the gather.
        auto odd = mixq_test::synthetic_export_model(m_work / "odd", "llama", 96, 2, 1, true, false, "none");
        add("hidden 96, block 64", odd, uniform("int4-g64"), packed);

        OrtBatch batch(m_work / "runs");
        const int T = 12;
        for (size_t i = 0; i < cases.size(); ++i) {
            Case& c = cases[i];
            const auto& cfg = c.model->config();
            c.out = m_work / ("case" + std::to_string(i));
            exporter::export_onnx(*c.model, c.plan, c.out, c.options);
            c.ids = token_ids<int64_t>(T, cfg.vocab_size, 7 + static_cast<uint32_t>(i));
            const auto& ids = c.ids;
            const auto ids2 = token_ids<int64_t>(T, cfg.vocab_size, 1000 + static_cast<uint32_t>(i));
            const std::vector<int64_t> prefix(ids.begin(), ids.end() - 1);
            const fs::path onnx = c.out / "model.onnx";
            c.full = batch.add(onnx, {ids}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
            c.prefix = batch.add(onnx, {prefix}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
            c.batch = batch.add(onnx, {ids, ids2}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);

            engine::Transformer tf(c.model);
            c.ref_fp = tf.forward(std::vector<int>(ids.begin(), ids.end()));
            plan::apply_plan_fake_quant(tf, *c.model, c.plan, c.level);
            c.ref = tf.forward(std::vector<int>(ids.begin(), ids.end()));
            c.ref_other = tf.forward(std::vector<int>(ids2.begin(), ids2.end()));
        }
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        // Decode steps: the last token with the prefix's present K/V as past.
        for (auto& c : cases) {
            const auto& cfg = c.model->config();
            c.decode = batch.add(c.out / "model.onnx", {{c.ids.back()}}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim,
                                 T - 1, {batch.out_dir(c.prefix)});
        }
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }

        bool all_ok = true;
        for (const auto& c : cases) {
            const int64_t V = c.model->config().vocab_size;
            const auto full = batch.logits(c.full);
            const auto dec = batch.logits(c.decode);
            const auto two = batch.logits(c.batch);
            QCOMPARE(int64_t(full.size()), T * V);
            QCOMPARE(int64_t(dec.size()), V);
            QCOMPARE(int64_t(two.size()), 2 * T * V);
            const float d_full = max_abs_diff(full.data(), c.ref.data(), full.size());
            const float d_dec = max_abs_diff(dec.data(), c.ref.data() + (T - 1) * V, dec.size());
            const float d_b0 = max_abs_diff(two.data(), c.ref.data(), static_cast<size_t>(T * V));
            const float d_b1 = max_abs_diff(two.data() + T * V, c.ref_other.data(), static_cast<size_t>(T * V));
            const float d_fp = max_abs_diff(full.data(), c.ref_fp.data(), full.size());
            const float worst = std::max({d_full, d_dec, d_b0, d_b1});
            const RowAgreement agree = row_agreement(c.ref.data(), full.data(), T, V);
            qInfo("%-44s max|ORT - engine(plan)| prefill %.2e decode %.2e batch %.2e/%.2e; argmax mismatches %d/%d, "
                  "mean KL %.2e; vs unquantized %.3f; logits up to %.1f; data %llu bytes",
                  c.name.c_str(), d_full, d_dec, d_b0, d_b1, agree.argmax_mismatches, T, agree.mean_kl, d_fp,
                  c.ref.cwiseAbs().maxCoeff(), static_cast<unsigned long long>(fs::file_size(c.out / "model.onnx.data")));
            if (!mixq_test::logits_agree(c.level, worst, agree)) {
                qWarning("%s: ORT differs from the engine by %.3e, %d argmax mismatches, mean KL %.2e", c.name.c_str(),
                         worst, agree.argmax_mismatches, agree.mean_kl);
                all_ok = false;
            }
        }
        QVERIFY(all_ok);
        // The comparison can fail: quantized plans move the logits far more than the tolerance.
        QVERIFY(max_abs_diff(batch.logits(cases[0].full).data(), cases[0].ref_fp.data(), cases[0].ref.size()) > 100 * kTolerance);
    }

    void int8ActivationsOnGoldenText() {
        REQUIRE_ORT();
        // accuracy_level 4 on the demo model's golden text: the engine's emulation of ORT's int8 activation blocks
        // agrees with ORT on every argmax and to mean KL <= 1e-4, and is closer to ORT than fp32 activations are
        // (so the emulation is what makes them agree, not the bound's width).
        auto demo = io::Model::open(mixq_test::demo_model());
        const auto tok = tok::Tokenizer::from_file(demo->dir() / "tokenizer.json");
        const std::vector<int> ids = tok->encode(
            "In the beginning God created the heaven and the earth.\nA fool and his money are soon parted.");
        const int64_t T = static_cast<int64_t>(ids.size()), V = demo->config().vocab_size;
        QVERIFY(T >= 20);
        struct P {
            const char* name;
            std::function<QuantFormat(const io::QuantUnit&)> choose;
        };
        const std::vector<P> plans = {{"int4-g32", mixq_test::uniform_format("int4-g32")},
                                      {"int8-g128", mixq_test::uniform_format("int8-g128-sym")},
                                      {"mixed", mixq_test::mixed_format}};
        OrtBatch batch(m_work / "golden_runs");
        std::vector<size_t> jobs;
        std::vector<plan::Plan> made;
        for (size_t i = 0; i < plans.size(); ++i) {
            made.push_back(plan::make_model_plan(*demo, plans[i].choose));
            const fs::path out = m_work / ("golden" + std::to_string(i));
            exporter::export_onnx(*demo, made.back(), out);  // default: accuracy_level 4
            jobs.push_back(batch.add(out / "model.onnx", {std::vector<int64_t>(ids.begin(), ids.end())},
                                     demo->config().num_layers, demo->config().num_kv_heads, demo->config().head_dim));
        }
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        bool ok = true;
        double kl_emulated = 0, kl_fp32 = 0;
        for (size_t i = 0; i < plans.size(); ++i) {
            engine::Transformer tf(demo);
            plan::apply_plan_fake_quant(tf, *demo, made[i], 4);
            const auto emulated = tf.forward(ids);
            plan::apply_plan_fake_quant(tf, *demo, made[i], 0);
            const auto fp32_act = tf.forward(ids);
            const auto ort = batch.logits(jobs[i]);
            QCOMPARE(int64_t(ort.size()), T * V);
            const RowAgreement em = row_agreement(emulated.data(), ort.data(), T, V);
            const RowAgreement fp = row_agreement(fp32_act.data(), ort.data(), T, V);
            const float d = max_abs_diff(emulated.data(), ort.data(), ort.size());
            qInfo("golden text, %-9s level 4: engine emulation vs ORT max %.2e, mean KL %.2e, argmax mismatches %d/%lld "
                  "(smallest top-2 margin among them %.3f); fp32 activations vs ORT max %.2e, mean KL %.2e",
                  plans[i].name, d, em.mean_kl, em.argmax_mismatches, static_cast<long long>(T), em.mismatch_margin,
                  max_abs_diff(fp32_act.data(), ort.data(), ort.size()), fp.mean_kl);
            ok = ok && mixq_test::logits_agree(4, d, em, kMaxMeanKl);
            kl_emulated += em.mean_kl;
            kl_fp32 += fp.mean_kl;
        }
        QVERIFY(ok);
        // Summed over the plans, the emulation is closer to ORT than fp32 activations are.
        QVERIFY(kl_emulated < kl_fp32);
    }

    void rotatedPlanExportsTheScoredModel() {
        REQUIRE_ORT();
        // A plan scored with --rotation hadamard is exported in that basis: a 16-bit export's float function is the
        // original (unrotated) model's, and a quantized one is the rotated engine's plan (what was scored), not the
        // unrotated weights quantized.
        auto m = mixq_test::synthetic_export_model(m_work / "rot_model", "llama", 64, 4, 2, false, false, "none");
        const auto& cfg = m->config();
        plan::Plan p16 = plan::make_model_plan(*m, [](const io::QuantUnit&) { return QuantFormat::float16(); });
        plan::Plan p4 = plan::make_model_plan(*m, mixq_test::uniform_format("int4-g32"));
        p16.rotation = p4.rotation = "hadamard:seed=3";
        exporter::export_onnx(*m, p16, m_work / "rot16");
        exporter::export_onnx(*m, p4, m_work / "rot4");
        exporter::ExportOptions none;
        none.rotation = "none";
        const std::string err = mixq_test::error_of([&] { exporter::export_onnx(*m, p4, m_work / "rot4-none", none); });
        QVERIFY2(err.rfind("plan: was scored with rotation hadamard:seed=3; exporting it with --rotation none", 0) == 0,
                 err.c_str());
        QVERIFY(!fs::exists(m_work / "rot4-none"));
        const json saved = json::parse(mixq_test::read_text(m_work / "rot4" / "mixq_plan.json"));
        QCOMPARE(saved["rotation"].get<std::string>(), std::string("hadamard:seed=3"));
        QCOMPARE(saved["export"]["rotation"].get<std::string>(), std::string("hadamard:seed=3"));

        const auto ids = token_ids<int64_t>(12, cfg.vocab_size, 77);
        const std::vector<int> ids32(ids.begin(), ids.end());
        OrtBatch batch(m_work / "rot_runs");
        const size_t j16 = batch.add(m_work / "rot16" / "model.onnx", {ids}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
        const size_t j4 = batch.add(m_work / "rot4" / "model.onnx", {ids}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim);
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        const int64_t V = cfg.vocab_size, T = 12;
        engine::Transformer plain(m);
        const auto ref_plain = plain.forward(ids32);
        const auto got16 = batch.logits(j16), got4 = batch.logits(j4);
        const float d16 = max_abs_diff(got16.data(), ref_plain.data(), got16.size());

        engine::Transformer rotated = plan::plan_engine(m, p4);
        plan::apply_plan_fake_quant(rotated, *m, p4, 4);
        const auto ref_rot4 = rotated.forward(ids32);
        plan::Plan p4_plain = p4;
        p4_plain.rotation = "none";
        plan::apply_plan_fake_quant(plain, *m, p4_plain, 4);
        const auto ref_plain4 = plain.forward(ids32);
        const float d4 = max_abs_diff(got4.data(), ref_rot4.data(), got4.size());
        const float d4_plain = max_abs_diff(got4.data(), ref_plain4.data(), got4.size());
        const auto agree = mixq_test::row_agreement(ref_rot4.data(), got4.data(), T, V);
        qInfo("rotated 16-bit export vs unrotated engine: max %.2e; rotated int4 export vs rotated engine plan: max %.2e, "
              "mean KL %.2e; vs the unrotated weights quantized: max %.2e",
              d16, d4, agree.mean_kl, d4_plain);
        QVERIFY(d16 <= kTolerance);
        QVERIFY(mixq_test::logits_agree(4, d4, agree));
        QVERIFY(d4_plain > 10 * d4 && d4_plain > 0.05f);  // the basis matters: the check can tell them apart
    }

    void decodeWithSharedMaxLengthBuffers() {
        REQUIRE_ORT();
        // The path ORT GenAI takes (past_present_share_buffer): after the prompt the KV cache lives in
        // max_length-sized buffers bound as both past input and present output, the mask grows each step
        // (tests/ort/ort_decode.js). Greedy decode there must follow the engine's incremental decode with the same
        // plan: every step's logits within the level's bounds, so the greedy tokens are the same.
        const int kPrompt = 8, kSteps = 8, kMaxLength = 24;
        struct D {
            const char* name;
            std::shared_ptr<io::Model> model;
            std::function<QuantFormat(const io::QuantUnit&)> choose;
            int level;
        };
        auto demo = io::Model::open(mixq_test::demo_model());
        const std::vector<D> cases = {
            {"tied demo, mixed", demo, mixq_test::mixed_format, 4},
            {"tied demo, int4, level 0", demo, mixq_test::uniform_format("int4-g32"), 0},
            {"untied llama, int4", mixq_test::synthetic_export_model(m_work / "dec_untied", "llama", 64, 4, 2, false, false),
             mixq_test::uniform_format("int4-g32"), 4},
            {"qwen3, mixed", mixq_test::synthetic_export_model(m_work / "dec_qwen3", "qwen3", 64, 4, 2, false, true),
             mixq_test::mixed_format, 4}};
        bool ok = true;
        for (size_t i = 0; i < cases.size(); ++i) {
            const auto& c = cases[i];
            const auto& cfg = c.model->config();
            const plan::Plan p = plan::make_model_plan(*c.model, c.choose);
            exporter::ExportOptions o;
            o.accuracy_level = c.level;
            const fs::path out = m_work / ("dec" + std::to_string(i));
            exporter::export_onnx(*c.model, p, out, o);
            const auto prompt = token_ids(kPrompt, cfg.vocab_size, 300 + static_cast<uint32_t>(i));
            std::string ids;
            for (int t : prompt) ids += (ids.empty() ? "" : ",") + std::to_string(t);
            const fs::path dir = m_work / ("dec_run" + std::to_string(i));
            const Run r = run_process("node", {QString::fromStdString((ort_dir() / "ort_decode.js").string()),
                                               QString::fromStdString((out / "model.onnx").string()), QString::fromStdString(ids),
                                               QString::number(kSteps), QString::number(kMaxLength),
                                               QString::fromStdString(dir.string())},
                                      m_env, 300000);
            QVERIFY2(r.code == 0, qPrintable(r.out));
            const json tj = json::parse(mixq_test::read_text(dir / "tokens.json"));
            const auto tokens = tj["tokens"].get<std::vector<int>>();
            QCOMPARE(tj["present_dims"].get<std::vector<int64_t>>(),
                     (std::vector<int64_t>{1, cfg.num_kv_heads, kMaxLength, cfg.head_dim}));
            const auto ort = read_floats(dir / "steps.bin");
            const int64_t V = cfg.vocab_size;
            QCOMPARE(int64_t(ort.size()), (kSteps + 1) * V);

            // The engine decodes incrementally on its KV cache, fed the tokens ORT chose.
            engine::Transformer tf(c.model);
            plan::apply_plan_fake_quant(tf, *c.model, p, c.level);
            engine::KVCache cache = tf.make_cache(kMaxLength);
            engine::RowMatrix ref(kSteps + 1, V);
            ref.row(0) = tf.forward(prompt, &cache).bottomRows(1);
            for (int s = 0; s < kSteps; ++s) ref.row(s + 1) = tf.forward({tokens[static_cast<size_t>(s)]}, &cache);
            const float d = max_abs_diff(ref.data(), ort.data(), ort.size());
            const auto agree = mixq_test::row_agreement(ref.data(), ort.data(), kSteps + 1, V);
            // Greedy tokens: the engine's argmax at each step is ORT's next token.
            int same = 0;
            for (int s = 0; s < kSteps; ++s) {
                const float* row = ref.data() + s * V;
                same += (std::max_element(row, row + V) - row) == tokens[static_cast<size_t>(s)];
            }
            qInfo("%-26s shared max-length buffers, %d decode steps: max|ORT - engine| %.2e, mean KL %.2e, greedy tokens "
                  "equal %d/%d",
                  c.name, kSteps, d, agree.mean_kl, same, kSteps);
            if (!mixq_test::logits_agree(c.level, d, agree) || (c.level == 0 && same != kSteps)) ok = false;
        }
        QVERIFY(ok);
    }

    void float16TargetsRunInOnnxRuntime() {
        REQUIRE_ORT();
        // --target cuda / dml: float16 activations end to end (inputs, K/V, logits), every float tensor stored fp16,
        // accuracy_level 0, the builder's provider options. ONNX Runtime's CPU EP runs these graphs (fp16 kernels,
        // or float32 kernels behind the casts it inserts), so the file is checked here against the fp32 engine
        // with the same plan: float16 rounding of activations is the only difference, bounded in
        // logit_agreement.h (kFloat16Tolerance, argmax equal on every row, kMaxMeanKlFloat16).
        auto demo = io::Model::open(mixq_test::demo_model());
        auto qwen3 = mixq_test::synthetic_export_model(m_work / "fp16_qwen3", "qwen3", 64, 4, 2, true, true, "llama3");
        auto qwen2 = mixq_test::synthetic_export_model(m_work / "fp16_qwen2", "qwen2", 64, 4, 2, false, false, "none");
        struct F {
            const char* name;
            std::shared_ptr<io::Model> model;
            std::function<QuantFormat(const io::QuantUnit&)> choose;
            exporter::Target target;
        };
        const std::vector<F> cases = {
            {"demo mixed, cuda", demo, mixq_test::mixed_format, exporter::Target::Cuda},
            {"demo 16-bit, dml", demo, [](const io::QuantUnit&) { return QuantFormat::float16(); }, exporter::Target::Dml},
            {"qwen3 mixed, cuda", qwen3, mixq_test::mixed_format, exporter::Target::Cuda},
            {"qwen2 biases int4, cuda", qwen2, mixq_test::uniform_format("int4-g32"), exporter::Target::Cuda}};
        OrtBatch batch(m_work / "fp16_runs");
        const int T = 12;
        std::vector<size_t> full, prefix;
        std::vector<std::vector<int64_t>> all_ids;
        for (size_t i = 0; i < cases.size(); ++i) {
            const auto& c = cases[i];
            const auto& cfg = c.model->config();
            exporter::ExportOptions o;
            o.target = c.target;
            o.accuracy_level = exporter::default_accuracy_level(c.target);
            const fs::path out = m_work / ("fp16_" + std::to_string(i));
            exporter::export_onnx(*c.model, plan::make_model_plan(*c.model, c.choose), out, o);
            const json g = json::parse(mixq_test::read_text(out / "genai_config.json"));
            const json providers = g["model"]["decoder"]["session_options"]["provider_options"];
            QCOMPARE(providers.size(), size_t(1));
            QVERIFY(providers[0].contains(c.target == exporter::Target::Cuda ? "cuda" : "dml"));
            const json pj = json::parse(mixq_test::read_text(out / "mixq_plan.json"));
            QCOMPARE(pj["export"]["activations"].get<std::string>(), std::string("float16"));
            QCOMPARE(pj["export"]["accuracy_level"].get<int>(), 0);
            all_ids.push_back(token_ids<int64_t>(T, cfg.vocab_size, 900 + static_cast<uint32_t>(i)));
            const std::vector<int64_t> pre(all_ids.back().begin(), all_ids.back().end() - 1);
            full.push_back(batch.add(out / "model.onnx", {all_ids.back()}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim,
                                     0, {}, "float16"));
            prefix.push_back(batch.add(out / "model.onnx", {pre}, cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, 0, {},
                                       "float16"));
        }
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        std::vector<size_t> decode;
        for (size_t i = 0; i < cases.size(); ++i) {
            const auto& cfg = cases[i].model->config();
            decode.push_back(batch.add(m_work / ("fp16_" + std::to_string(i)) / "model.onnx", {{all_ids[i].back()}},
                                       cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, T - 1, {batch.out_dir(prefix[i])},
                                       "float16"));
        }
        try {
            batch.run(m_env);
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
        bool ok = true;
        for (size_t i = 0; i < cases.size(); ++i) {
            const auto& c = cases[i];
            const int64_t V = c.model->config().vocab_size;
            QCOMPARE(batch.logits_type(full[i]), std::string("float16"));
            engine::Transformer tf(c.model);
            plan::apply_plan_fake_quant(tf, *c.model, plan::make_model_plan(*c.model, c.choose), 0);
            const std::vector<int> ids(all_ids[i].begin(), all_ids[i].end());
            const auto ref = tf.forward(ids);
            const auto got = batch.logits(full[i]);
            const auto dec = batch.logits(decode[i]);
            const float d = max_abs_diff(got.data(), ref.data(), got.size());
            const float d_dec = max_abs_diff(dec.data(), ref.data() + (T - 1) * V, dec.size());
            const auto agree = mixq_test::row_agreement(ref.data(), got.data(), T, V);
            qInfo("%-26s float16 graph vs fp32 engine: max %.2e (decode step %.2e), argmax mismatches %d/%d, mean KL %.2e",
                  c.name, d, d_dec, agree.argmax_mismatches, T, agree.mean_kl);
            if (!(d <= mixq_test::kFloat16Tolerance && d_dec <= mixq_test::kFloat16Tolerance &&
                  agree.argmax_mismatches == 0 && agree.mean_kl <= mixq_test::kMaxMeanKlFloat16))
                ok = false;
        }
        QVERIFY(ok);
    }

    void graphOptimizationsDoNotChangeTheResult() {
        REQUIRE_ORT();
        // The same int4 model with ORT's graph optimizations disabled (no fusions) gives the same logits.
        auto demo = io::Model::open(mixq_test::demo_model());
        const plan::Plan p = plan::make_model_plan(*demo, [](const io::QuantUnit&) { return fmt("int4-g32"); });
        const fs::path out = m_work / "noopt";
        exporter::ExportOptions level0;  // fp32 activations, so the engine's result is exact to summation order
        level0.accuracy_level = 0;
        exporter::export_onnx(*demo, p, out, level0);
        const auto ids = token_ids<int64_t>(9, 1024, 99);
        json inputs = json::object();
        write_bytes(m_work / "noopt_ids.bin", ids.data(), ids.size() * 8);
        const std::vector<int64_t> mask(ids.size(), 1);
        write_bytes(m_work / "noopt_mask.bin", mask.data(), mask.size() * 8);
        write_bytes(m_work / "noopt_empty.bin", "", 0);
        inputs["input_ids"] = {{"type", "int64"}, {"dims", {1, 9}}, {"file", (m_work / "noopt_ids.bin").string()}};
        inputs["attention_mask"] = {{"type", "int64"}, {"dims", {1, 9}}, {"file", (m_work / "noopt_mask.bin").string()}};
        for (int i = 0; i < 6; ++i)
            for (const char* kv : {"key", "value"})
                inputs["past_key_values." + std::to_string(i) + "." + kv] = {
                    {"type", "float32"}, {"dims", {1, 2, 0, 32}}, {"file", (m_work / "noopt_empty.bin").string()}};
        json jobs = json::array();
        jobs.push_back({{"model", (out / "model.onnx").string()}, {"out_dir", (m_work / "noopt_off").string()},
                        {"optimization", "disabled"}, {"inputs", inputs}});
        std::ofstream(m_work / "noopt.json") << jobs.dump();
        const Run r = run_process("node", {QString::fromStdString((ort_dir() / "ort_run.js").string()),
                                           QString::fromStdString((m_work / "noopt.json").string())},
                                  m_env, 300000);
        QVERIFY2(r.code == 0, qPrintable(r.out));
        engine::Transformer tf(demo);
        plan::apply_plan_fake_quant(tf, *demo, p);
        const auto ref = tf.forward(std::vector<int>(ids.begin(), ids.end()));
        const auto got = read_floats(m_work / "noopt_off" / "logits.bin");
        QCOMPARE(int64_t(got.size()), int64_t(ref.size()));
        const float d = max_abs_diff(got.data(), ref.data(), got.size());
        qInfo("optimizations disabled: max|ORT - engine(plan)| %.2e", d);
        QVERIFY(d <= kTolerance);
    }
};

QTEST_APPLESS_MAIN(TestExportOrt)
#include "test_export_ort.moc"
