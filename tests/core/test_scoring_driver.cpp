// SPDX-License-Identifier: MIT
// The one scoring driver (core/score/scoring_driver.h): progress is monotone, its accounting matches the work done
// (the last step reaches 100% exactly when the work ends) in exact, fast and Fisher modes and every CPU memory mode;
// the grouping of a layer's variants (all at once on the CPU, one at a time as on the CUDA engine) leaves every
// score bit-identical; placement is reported once, by every scorer; a cancel anywhere in a run stops it within 1 s.
#include <QtTest>
#include <chrono>
#include <memory>
#include <vector>

#include "core/io/synthetic_model.h"
#include "core/score/cpu_scoring_engine.h"
#include "core/score/scorer.h"
#include "core/score/scoring_driver.h"
#include "calibration_ids.h"
#include "test_support.h"

using namespace mixq;

namespace {

/// The CPU engine with a layer's variants made and carried `slots` at a time (the CUDA engine holds one).
class GroupedCpuEngine : public score::ScoringEngine {
public:
    GroupedCpuEngine(int group, std::shared_ptr<const io::Model> m, const score::CalibrationSet& c,
                     const score::ScoreOptions& o, const JobContext& j)
        : m_slots(group), m_cpu(std::move(m), c, o, j) {}
    std::string backend_name() const override { return m_cpu.backend_name(); }
    std::vector<uint64_t> device_free_bytes(const score::ScoringSetup& s) override { return m_cpu.device_free_bytes(s); }
    bool runs_multi_gpu() const override { return false; }
    void open(const score::ScoringSetup& s, const score::MemoryDecision& d,
              std::shared_ptr<const engine::Rotation> r) override {
        m_cpu.open(s, d, std::move(r));
    }
    std::string device_label() const override { return m_cpu.device_label(); }
    void embed_reference(int s) override { m_cpu.embed_reference(s); }
    void reference_layer(int l, int s) override { m_cpu.reference_layer(l, s); }
    void end_reference() override { m_cpu.end_reference(); }
    int variant_slots() const override { return m_slots; }
    void begin_layer(int l) override { m_cpu.begin_layer(l); }
    std::vector<float> tap_importance(io::UnitKind k) override { return m_cpu.tap_importance(k); }
    score::OutputError make_layer_variant(int slot, const io::QuantUnit& u, const quant::QuantFormat& f,
                                          const float* imp) override {
        check_slot(slot);
        return m_cpu.make_layer_variant(slot, u, f, imp);
    }
    void run_variant_layer(int slot, int s) override { m_cpu.run_variant_layer(slot, s); }
    void drop_variant_weights(int slot) override { m_cpu.drop_variant_weights(slot); }
    void release_taps() override {
        ++released;
        m_cpu.release_taps();
    }
    void propagate(int slot, int l, int s) override { m_cpu.propagate(slot, l, s); }
    double variant_kl(int slot, int s) override { return m_cpu.variant_kl(slot, s); }
    std::shared_ptr<const engine::RowMatrix> host_matrix(const std::string& t) override { return m_cpu.host_matrix(t); }
    std::vector<float> head_importance() override { return m_cpu.head_importance(); }
    void set_table_variant(const io::QuantUnit& u, const engine::RowMatrix& wq) override { m_cpu.set_table_variant(u, wq); }
    void embed_variant(int s) override { m_cpu.embed_variant(s); }
    double table_variant_kl(int s, score::OutputError& e) override { return m_cpu.table_variant_kl(s, e); }

    int released = 0;  ///< release_taps calls: once per decoder layer

private:
    int m_slots;
    score::CpuScoringEngine m_cpu;
    void check_slot(int slot) const {
        if (slot < 0 || slot >= m_slots) throw std::logic_error("slot outside the engine's slots");
    }
};

struct Recorded {
    std::vector<double> fractions;
    std::vector<std::string> items;
    int placements = 0;
};

}  // namespace

class TestScoringDriver : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;   ///< the demo model: tied embeddings (one table unit)
    std::shared_ptr<io::Model> m_untied;  ///< a generated qwen3: separate lm_head and embedding units

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
        auto& c = s.config;
        c.model_type = "qwen3";
        c.qk_norm = true;
        c.hidden_size = 64;
        c.num_heads = 4;
        c.num_kv_heads = 1;
        c.head_dim = 16;
        c.intermediate_size = 160;
        c.num_layers = 3;
        c.vocab_size = 1024;
        c.tie_word_embeddings = false;
        s.dtype = io::DType::F32;
        s.init_std = 0.1f;
        const auto dir = mixq_test::scratch("driver-untied");
        io::write_synthetic_model(dir, s);
        m_untied = io::Model::open(dir);
    }

    void progressIsMonotoneAndEndsWithTheWork() {
        const auto calib = mixq_test::calibration_ids(2, 24);
        struct Case {
            const char* mode;
            const char* estimator;
            score::MemoryMode memory;
        };
        const Case cases[] = {{"exact", "shortcut", score::MemoryMode::Full},
                              {"exact", "shortcut", score::MemoryMode::LowMemory},
                              {"fast", "shortcut", score::MemoryMode::Offload},
                              {"fast", "fisher", score::MemoryMode::Full},
                              {"fast", "fisher", score::MemoryMode::LowMemory}};
        for (const auto& model : {m_model, m_untied})
        for (const auto& c : cases) {
            const QString what = QString("%1 %2/%3/%4")
                                     .arg(model->layout().tied_embeddings ? "tied" : "untied")
                                     .arg(c.mode, c.estimator, score::memory_mode_name(c.memory));
            score::ScoreOptions opt;
            opt.mode = c.mode;
            opt.fast_estimator = c.estimator;
            opt.memory = c.memory;
            opt.offload_dir = mixq_test::scratch("driver-offload");
            Recorded rec;
            opt.on_placement = [&](const std::string& device, const std::string& mode, const std::string&) {
                ++rec.placements;
                QCOMPARE(device, std::string("cpu"));
                QCOMPARE(mode, std::string(score::memory_mode_name(c.memory)));
            };
            JobContext job(CancelToken{}, [&](const Progress& p) {
                if (p.stage != "scoring") return;  // e.g. the model hash's own progress
                rec.fractions.push_back(p.fraction);
                rec.items.push_back(p.item);
            });
            score::score_model(model, calib, opt, job);
            QVERIFY2(rec.fractions.size() > 10, qPrintable(what));
            for (size_t i = 1; i < rec.fractions.size(); ++i)
                QVERIFY2(rec.fractions[i] >= rec.fractions[i - 1], qPrintable(what + " at report " + QString::number(i)));
            QCOMPARE(rec.fractions.back(), 1.0);
            QCOMPARE(rec.items.back(), std::string("done"));
            // The accounting matches the work: the last step before "done" is at 100%, the one before it is not.
            const size_t n = rec.fractions.size();
            QVERIFY2(std::fabs(rec.fractions[n - 2] - 1.0) < 1e-9, qPrintable(what + ": last step at " +
                                                                            QString::number(rec.fractions[n - 2])));
            QVERIFY2(rec.fractions[n - 3] < 1.0, qPrintable(what + ": 100% reached before the work ended"));
            QCOMPARE(rec.placements, 1);
        }
    }

    void cancelHalfwayStopsWithinASecond() {  // in every driver phase a cancel is seen at the next step
        const auto calib = mixq_test::calibration_ids(2, 24);
        for (const char* mode : {"exact", "fast"})
            for (const double at : {0.05, 0.5, 0.95}) {
                score::ScoreOptions opt;
                opt.mode = mode;
                opt.fast_estimator = "shortcut";
                opt.memory = score::MemoryMode::LowMemory;
                CancelToken token;
                auto t_cancel = std::chrono::steady_clock::now();
                bool sent = false;
                JobContext job(token, [&](const Progress& p) {
                    if (!sent && p.stage == "scoring" && p.fraction >= at) {
                        sent = true;
                        t_cancel = std::chrono::steady_clock::now();
                        token.cancel();
                    }
                });
                bool cancelled = false;
                try {
                    score::score_model(m_untied, calib, opt, job);
                } catch (const Cancelled&) {
                    cancelled = true;
                }
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cancel).count();
                const QString what = QString("%1 at %2: %3 s").arg(mode).arg(at).arg(s);
                QVERIFY2(sent && cancelled, qPrintable(what));
                QVERIFY2(s < 1.0, qPrintable(what));
            }
    }

    void variantGroupingLeavesScoresBitIdentical() {
        const auto calib = mixq_test::calibration_ids(2, 24);
        for (const char* mode : {"exact", "fast"}) {
            score::ScoreOptions opt;
            opt.mode = mode;
            opt.fast_estimator = "shortcut";
            opt.memory = score::MemoryMode::LowMemory;
            opt.candidates = score::parse_candidates("int4-g32,int8-g128", quant::Method::RTN);
            opt.candidates.push_back(quant::QuantFormat::parse("int4-g128"));
            opt.candidates.back().method = quant::Method::KQuant;
            const auto all_at_once = score::score_model(m_model, calib, opt);
            for (int group : {1, 5}) {
                GroupedCpuEngine engine(group, m_model, calib, opt, null_job());
                const auto grouped = score::run_scoring(engine, m_model, calib, opt, null_job());
                QCOMPARE(engine.released, m_model->config().num_layers);
                QCOMPARE(grouped.units.size(), all_at_once.units.size());
                for (size_t u = 0; u < grouped.units.size(); ++u)
                    for (size_t c = 0; c < opt.candidates.size(); ++c) {
                        const auto& a = all_at_once.units[u].candidates[c];
                        const auto& b = grouped.units[u].candidates[c];
                        QVERIFY2(a.kld == b.kld && a.rel_err == b.rel_err,
                                 qPrintable(QString("%1 %2 group of %3: %4 vs %5")
                                                .arg(mode, QString::fromStdString(grouped.units[u].name))
                                                .arg(group)
                                                .arg(a.kld, 0, 'g', 17)
                                                .arg(b.kld, 0, 'g', 17)));
                        QVERIFY(b.kld > 0);
                    }
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestScoringDriver)
#include "test_scoring_driver.moc"
