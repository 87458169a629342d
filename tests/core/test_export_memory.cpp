// SPDX-License-Identifier: MIT
// Bounded memory of the exporter: a generated model with a 200k vocabulary (hidden 256, 2 layers, untied BF16
// embedding and lm_head of 51.2M weights each) is exported in a child process whose peak RSS (VmHWM, reset
// before the export) must stay below the largest tensor in fp32 plus a fixed 64 MiB buffer — for an int4 plan
// (everything streamed in row chunks) and for a 16-bit plan (the lm_head must be transposed, the one case that
// holds a whole tensor in fp32). The parent never touches the weights, so the child starts clean.
#include <sys/wait.h>
#include <unistd.h>

#include <QtTest>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/common/error.h"
#include "core/export/exporter.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"
#include "process_memory.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kHidden = 256, kVocab = 200000;
constexpr double kFixedBufferMiB = 64.0;

struct ChildResult {
    bool ok = false;
    std::string error;
    double peak_mib = 0, seconds = 0, data_mb = 0;
};

/// Runs export_onnx(model_dir, plan_file) in a forked child and returns its peak RSS.
ChildResult export_in_child(const fs::path& model_dir, const fs::path& plan_file, const fs::path& out) {
    int fds[2];
    if (::pipe(fds) != 0) return {false, "pipe failed"};
    const pid_t pid = ::fork();
    if (pid < 0) return {false, "fork failed"};
    if (pid == 0) {
        ::close(fds[0]);
        std::string msg;
        int code = 0;
        try {
            mixq_test::reset_peak();  // VmHWM from here on
            auto model = io::Model::open(model_dir);
            const plan::Plan p = plan::load_plan(plan_file);
            const auto t0 = std::chrono::steady_clock::now();
            const auto r = exporter::export_onnx(*model, p, out);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            char buf[128];
            const auto peak_kb = static_cast<long>(mixq_test::status_bytes("VmHWM") / 1024);
            std::snprintf(buf, sizeof buf, "%ld %.3f %.3f", peak_kb, s, double(r.data_bytes) / 1e6);
            msg = buf;
        } catch (const std::exception& e) {
            msg = std::string("ERR ") + e.what();
            code = 1;
        }
        (void)!::write(fds[1], msg.data(), msg.size());
        ::close(fds[1]);
        ::_exit(code);
    }
    ::close(fds[1]);
    std::string text;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ChildResult r;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.rfind("ERR ", 0) == 0) {
        r.error = text.empty() ? "child died" : text;
        return r;
    }
    long kb = 0;
    if (std::sscanf(text.c_str(), "%ld %lf %lf", &kb, &r.seconds, &r.data_mb) != 3) {
        r.error = "bad child report: " + text;
        return r;
    }
    r.ok = true;
    r.peak_mib = double(kb) / 1024.0;
    return r;
}

}  // namespace

class TestExportMemory : public QObject {
    Q_OBJECT

    fs::path m_dir;

private slots:
    void initTestCase() {
        m_dir = mixq_test::scratch("export_memory");
        io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
        auto& c = s.config;
        c.hidden_size = kHidden;
        c.intermediate_size = 512;
        c.num_layers = 2;
        c.num_heads = 4;
        c.num_kv_heads = 2;
        c.head_dim = 64;
        c.vocab_size = kVocab;
        c.tie_word_embeddings = false;
        c.max_position_embeddings = 1024;
        io::write_synthetic_model(m_dir / "model", s);
        // Plans are made here (hashing maps the weights), in a scope that closes the model before any fork.
        auto model = io::Model::open(m_dir / "model");
        plan::save_plan(plan::make_model_plan(*model, [](const io::QuantUnit&) { return quant::QuantFormat::parse("int4-g32"); }),
                        m_dir / "int4.json");
        plan::save_plan(plan::make_model_plan(*model, [](const io::QuantUnit&) { return quant::QuantFormat::float16(); }),
                        m_dir / "fp16.json");
    }

    void peakRssStaysBelowLargestTensorPlusBuffer_data() {
        QTest::addColumn<QString>("plan");
        QTest::newRow("int4-g32") << "int4";
        QTest::newRow("16-bit") << "fp16";
    }
    void peakRssStaysBelowLargestTensorPlusBuffer() {
        QFETCH(QString, plan);
        const fs::path out = m_dir / ("out-" + plan.toStdString());
        const ChildResult r = export_in_child(m_dir / "model", m_dir / (plan.toStdString() + ".json"), out);
        QVERIFY2(r.ok, r.error.c_str());
        const double largest_fp32_mib = double(kVocab * kHidden * 4) / (1024.0 * 1024.0);
        const double bound = largest_fp32_mib + kFixedBufferMiB;
        qInfo("%s plan: peak RSS %.1f MiB (bound %.1f = largest tensor in fp32 %.1f + %.0f), export %.2f s, data %.1f MB "
              "(%.0f MB/s)",
              qPrintable(plan), r.peak_mib, bound, largest_fp32_mib, kFixedBufferMiB, r.seconds, r.data_mb,
              r.data_mb / r.seconds);
        QVERIFY2(r.peak_mib < bound, qPrintable(QString("peak RSS %1 MiB").arg(r.peak_mib)));
        if (plan == "int4") {
            // Streamed in row chunks: well below even one vocab-sized tensor in its BF16 file form.
            QVERIFY2(r.peak_mib < largest_fp32_mib / 2, qPrintable(QString("peak RSS %1 MiB").arg(r.peak_mib)));
        }
        QVERIFY(fs::exists(out / "model.onnx"));
        fs::remove_all(out);
    }

    void cleanupTestCase() { fs::remove_all(m_dir); }
};

QTEST_APPLESS_MAIN(TestExportMemory)
#include "test_export_memory.moc"
