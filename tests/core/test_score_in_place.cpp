// SPDX-License-Identifier: MIT
// The CPU scorer reading BF16 / F16 layers in place (ScoreOptions::weights_in_place) against the same scoring on
// fp32 copies of every layer: the demo model (exact and fast shortcut, rtn and kquant, full and low_memory) and
// generated BF16 / F16 models (packed QKV, fused gate|up, attention bias); every KLD and output error close, the
// unit ranking identical; the engine's layers really in place, and fp32 when off, for Fisher and under a rotation.
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/engine/half_linear.h"
#include "core/io/synthetic_model.h"
#include "core/score/cpu_scoring_engine.h"
#include "core/score/scorer.h"
#include "core/score/scoring_driver.h"
#include "calibration_ids.h"
#include "rank_correlation.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

using mixq_test::calibration_ids;

using mixq_test::spearman;

struct Agreement {
    double kld_rel = 0, err_rel = 0, rho = 1;  ///< worst relative KLD / output-error difference, Spearman of KLDs
    size_t n = 0;
};

/// Scores `model` with and without weights_in_place (otherwise `opt`) and compares every candidate's scores.
Agreement compare(const std::shared_ptr<io::Model>& model, score::ScoreOptions opt,
                  const score::CalibrationSet& calib) {
    opt.weights_in_place = true;
    const auto a = score::score_model(model, calib, opt);
    opt.weights_in_place = false;
    const auto b = score::score_model(model, calib, opt);
    Agreement g;
    std::vector<double> ka, kb;
    if (a.units.size() != b.units.size()) throw std::runtime_error("unit lists differ");
    for (size_t u = 0; u < a.units.size(); ++u)
        for (size_t c = 0; c < a.units[u].candidates.size(); ++c) {
            const auto& x = a.units[u].candidates[c];
            const auto& y = b.units[u].candidates[c];
            if (!(y.kld > 0) || !(y.rel_err > 0)) throw std::runtime_error("a reference score is not positive");
            g.kld_rel = std::max(g.kld_rel, std::abs(x.kld - y.kld) / y.kld);
            g.err_rel = std::max(g.err_rel, std::abs(x.rel_err - y.rel_err) / y.rel_err);
            ka.push_back(x.kld);
            kb.push_back(y.kld);
        }
    g.rho = spearman(ka, kb);
    g.n = ka.size();
    return g;
}

/// A tiny generated model of `dtype` with packed q|k|v (with bias) and fused gate|up, or the separate tensors.
std::shared_ptr<io::Model> generated(io::DType dtype, bool packed) {
    io::SyntheticSpec spec = io::SyntheticSpec::preset("tiny");
    spec.dtype = dtype;
    spec.packed_qkv = packed;
    spec.fused_gate_up = packed;
    spec.config.attention_bias = true;
    spec.config.num_layers = 3;
    spec.init_std = 0.08f;  // KLDs well above float noise
    const std::string name = std::string("score_in_place_") + io::dtype_name(dtype) + (packed ? "_packed" : "");
    const fs::path dir = mixq_test::scratch(name) / "model";
    io::write_synthetic_model(dir, spec);
    return io::Model::open(dir);
}

// Bounds: the in-place GEMM sums the same fp32 products in another order, so scores differ by float rounding only.
constexpr double kKldRel = 1e-3, kErrRel = 1e-4;

}  // namespace

class TestScoreInPlace : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_demo;

private slots:
    void initTestCase() { m_demo = io::Model::open(mixq_test::demo_model()); }

    void demoScoresMatchFp32Layers() {
        // Each mode, method and memory mode once (four pairs, not all eight: the suite's time).
        const auto calib = calibration_ids(2, 32, 1024);
        const struct {
            const char* mode;
            quant::Method method;
            score::MemoryMode mem;
        } cases[] = {{"exact", quant::Method::RTN, score::MemoryMode::Full},
                     {"exact", quant::Method::KQuant, score::MemoryMode::LowMemory},
                     {"fast", quant::Method::RTN, score::MemoryMode::LowMemory},
                     {"fast", quant::Method::KQuant, score::MemoryMode::Full}};
        for (const auto& [mode, method, mem] : cases) {
            score::ScoreOptions opt;
            opt.mode = mode;
            opt.fast_estimator = "shortcut";
            opt.candidates = score::parse_candidates("int4-g32,int4-g128,int8-g128", method);
            opt.memory = mem;
            const Agreement g = compare(m_demo, opt, calib);
            qInfo("demo %s %s %s: %zu scores, max KLD rel diff %.3g, max rel_err rel diff %.3g, rho %.6f",
                  mode, method == quant::Method::RTN ? "rtn" : "kquant", score::memory_mode_name(mem), g.n,
                  g.kld_rel, g.err_rel, g.rho);
            QVERIFY(g.n == 25 * 3);
            QVERIFY2(g.kld_rel < kKldRel, "KLDs in place differ from the fp32 layers'");
            QVERIFY2(g.err_rel < kErrRel, "output errors in place differ from the fp32 layers'");
            QCOMPARE(g.rho, 1.0);
        }
    }

    void generatedLayoutsMatchFp32Layers() {
        const auto calib = calibration_ids(3, 32, 1024);
        for (const io::DType dt : {io::DType::BF16, io::DType::F16})
            for (const bool packed : {false, true}) {
                score::ScoreOptions opt;
                opt.memory = score::MemoryMode::Full;
                const Agreement g = compare(generated(dt, packed), opt, calib);
                qInfo("generated %s%s: %zu scores, max KLD rel diff %.3g, max rel_err rel diff %.3g, rho %.6f",
                      io::dtype_name(dt), packed ? " packed" : "", g.n, g.kld_rel, g.err_rel, g.rho);
                QVERIFY(g.n == 13 * 3);
                QVERIFY(g.kld_rel < kKldRel);
                QVERIFY(g.err_rel < kErrRel);
                QCOMPARE(g.rho, 1.0);
            }
    }

    void layersAreInPlaceOnlyWhereAllowed() {
        // The engine's decoder layers after open: HalfLinear in place (full and low_memory); DenseLinear with the
        // option off, for the Fisher estimate (fp32_layers) and under a rotation (rotated weights are fp32).
        const auto calib = calibration_ids(2, 16, 1024);
        io::SyntheticSpec spec = io::SyntheticSpec::preset("tiny");
        spec.config.tie_word_embeddings = false;  // a rotation needs untied embeddings
        const fs::path dir = mixq_test::scratch("score_in_place_untied") / "model";
        io::write_synthetic_model(dir, spec);
        const auto untied = io::Model::open(dir);
        auto first_q_in_place = [&](const std::shared_ptr<io::Model>& m, bool in_place, bool fp32_layers,
                                    score::MemoryMode mem, const char* rotation) {
            score::ScoreOptions opt;
            opt.weights_in_place = in_place;
            opt.memory = mem;
            opt.rotation = rotation;
            score::CpuScoringEngine eng(m, calib, opt, null_job(), fp32_layers);
            score::open_scoring(eng, m, calib, opt, null_job());
            const auto w = eng.transformer().layer(0);
            return dynamic_cast<const engine::HalfLinear*>(w->q.get()) != nullptr;
        };
        QVERIFY(first_q_in_place(m_demo, true, false, score::MemoryMode::Full, "none"));
        QVERIFY(first_q_in_place(m_demo, true, false, score::MemoryMode::LowMemory, "none"));
        QVERIFY(!first_q_in_place(m_demo, false, false, score::MemoryMode::Full, "none"));
        QVERIFY(!first_q_in_place(m_demo, true, true, score::MemoryMode::Full, "none"));
        QVERIFY(first_q_in_place(untied, true, false, score::MemoryMode::Full, "none"));
        QVERIFY(!first_q_in_place(untied, true, false, score::MemoryMode::Full, "hadamard"));
    }
};

QTEST_GUILESS_MAIN(TestScoreInPlace)
#include "test_score_in_place.moc"
