// SPDX-License-Identifier: MIT
// Sensitivity scoring on the demo model: KL against a closed form, the cached-layer scorer against a plain
// full-model pass with the unit's fake-quant weights, int8 < int4 for every unit, memory modes agreeing,
// determinism, fast-mode rank correlation, auto memory-mode selection and multi-GPU placement, cancellation.
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/quant/quantizer.h"
#include "core/score/kl_divergence.h"
#include "core/score/scorer.h"
#include "calibration_ids.h"
#include "rank_correlation.h"
#include "test_support.h"

using namespace mixq;

namespace {


using mixq_test::spearman;

}  // namespace

class TestScorer : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;
    score::ScoreTable m_exact;

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        score::ScoreOptions opt;
        opt.memory = score::MemoryMode::Full;
        m_exact = score::score_model(m_model, mixq_test::calibration_ids(4, 48), opt);
    }

    void klClosedForm() {
        // p = softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]; q uniform: KL = Σ p ln(3p).
        engine::RowMatrix a(1, 3), b(1, 3);
        a << 0.0f, std::log(2.0f), std::log(3.0f);
        b << 5.0f, 5.0f, 5.0f;
        const double expect = (1.0 / 6) * std::log(0.5) + (2.0 / 6) * std::log(1.0) + (3.0 / 6) * std::log(1.5);
        QVERIFY(std::fabs(score::kl_sum(score::log_softmax(a), b) - expect) < 1e-6);
        QVERIFY(std::fabs(score::kl_sum(score::log_softmax(a), a)) < 1e-7);
    }

    void tableShape() {
        QCOMPARE(int(m_exact.units.size()), int(m_model->layout().units.size()));
        QCOMPARE(m_exact.model_hash, m_model->content_hash());
        QCOMPARE(m_exact.memory_mode, std::string("full"));
        for (const auto& u : m_exact.units) {
            QCOMPARE(int(u.candidates.size()), 3);
            for (const auto& c : u.candidates) {
                QVERIFY2(std::isfinite(c.kld) && c.kld > 0, u.name.c_str());
                QVERIFY(c.rel_err > 0 && c.rel_err < 1);
                // storage with BF16 scales and packed zero points, closed form: K = 128 gives 4 blocks of 32
                // (4 + 16/32 + 4/32 bits per weight) or 1 block of 128 for int8 (8 + 16/128 + 8/128); down_proj
                // has K = 352 = 11 blocks of 32, whose 11 zero-point nibbles take 6 whole bytes per row, and
                // 3 blocks of 128 (the last one padded to 128 codes).
                const bool down = u.kind == io::UnitKind::Down;
                if (c.format.name() == "int4-g32")
                    QCOMPARE(c.bits_per_weight, down ? (352 * 4 + 11 * 16 + 6 * 8) / 352.0 : 4.0 + 0.5 + 0.125);
                if (c.format.name() == "int8-g128")
                    QCOMPARE(c.bits_per_weight, down ? (384 * 8 + 3 * 16 + 3 * 8) / 352.0 : 8.0 + 16.0 / 128 + 8.0 / 128);
            }
        }
    }

    void int8BeatsInt4EverywhereAndFinerBlocksHelp() {
        for (const auto& u : m_exact.units) {
            const double g32 = u.candidates[0].kld, g128 = u.candidates[1].kld, i8 = u.candidates[2].kld;
            QVERIFY2(i8 < g32 && i8 < g128, u.name.c_str());
            QVERIFY2(u.candidates[0].rel_err < u.candidates[1].rel_err, u.name.c_str());
        }
    }

    void matchesPlainFullModelPass() {
        // Independent path: the engine with the unit's fake-quant weights as overrides, a full forward per sequence.
        const auto calib = mixq_test::calibration_ids(4, 48);
        for (const std::string unit : {"layers.1.qkv", "layers.4.down", "layers.0.gate_up", "tied_embedding"}) {
            const auto* us = m_exact.find(unit);
            QVERIFY(us);
            const auto fmt = m_exact.candidates[0];
            engine::Transformer ref(m_model), quant(m_model);
            for (const auto& name : us->members) {
                const auto w = ref.load_matrix(name);
                quant.set_override(name, std::make_shared<engine::RowMatrix>(
                                             quant::fake_quantize(w, fmt, io::DType::BF16)));
            }
            double kl = 0;
            int64_t tokens = 0;
            for (const auto& seq : calib.sequences) {
                kl += score::kl_sum(score::log_softmax(ref.forward(seq)), quant.forward(seq));
                tokens += static_cast<int64_t>(seq.size());
            }
            kl /= static_cast<double>(tokens);
            const double got = us->candidates[0].kld;
            qInfo("%s %s: scorer %.6g, plain pass %.6g", unit.c_str(), fmt.name().c_str(), got, kl);
            QVERIFY2(std::fabs(got - kl) <= 1e-5 * kl + 1e-9, unit.c_str());
        }
    }

    void memoryModesAgree() {
        for (auto mode : {score::MemoryMode::LowMemory, score::MemoryMode::Offload}) {
            score::ScoreOptions opt;
            opt.memory = mode;
            opt.offload_dir = mixq_test::scratch("offload");
            const auto t = score::score_model(m_model, mixq_test::calibration_ids(4, 48), opt);
            QCOMPARE(t.memory_mode, std::string(score::memory_mode_name(mode)));
            for (size_t u = 0; u < t.units.size(); ++u)
                for (size_t c = 0; c < 3; ++c) {
                    const double a = t.units[u].candidates[c].kld, b = m_exact.units[u].candidates[c].kld;
                    QVERIFY2(std::fabs(a - b) <= 1e-6 * std::max(1e-12, b), t.units[u].name.c_str());
                }
            // offload removes its temporary files
            QVERIFY(std::filesystem::is_empty(mixq_test::scratch("offload").parent_path() / "offload"));
        }
    }

    void deterministic() {
        score::ScoreOptions opt;
        opt.memory = score::MemoryMode::Full;
        const auto t = score::score_model(m_model, mixq_test::calibration_ids(4, 48), opt);
        QCOMPARE(score::score_table_to_json(t).size() > 0, true);
        for (size_t u = 0; u < t.units.size(); ++u)
            for (size_t c = 0; c < 3; ++c) QCOMPARE(t.units[u].candidates[c].kld, m_exact.units[u].candidates[c].kld);
    }

    void fastModeRanks() {
        score::ScoreOptions opt;
        opt.mode = "fast";
        opt.memory = score::MemoryMode::Full;
        const auto fast = score::score_model(m_model, mixq_test::calibration_ids(4, 48), opt);
        std::vector<double> a, b;
        for (size_t u = 0; u < fast.units.size(); ++u)
            for (size_t c = 0; c < 3; ++c) {
                a.push_back(fast.units[u].candidates[c].kld);
                b.push_back(m_exact.units[u].candidates[c].kld);
            }
        const double rho = spearman(a, b);
        qInfo("fast vs exact Spearman rank correlation over %zu (unit, candidate) pairs: %.4f", a.size(), rho);
        QVERIFY(rho > 0.8);
    }

    void jsonRoundTrip() {
        const auto text = score::score_table_to_json(m_exact);
        const auto back = score::score_table_from_json(text, "mem");
        QCOMPARE(back.units.size(), m_exact.units.size());
        QCOMPARE(back.units[3].candidates[1].kld, m_exact.units[3].candidates[1].kld);
        QCOMPARE(back.units[3].members, m_exact.units[3].members);
        bool threw = false;
        try {
            score::score_table_from_json("{\"schema\":\"other\"}", "s.json");
        } catch (const Error& e) {
            threw = QString(e.what()).startsWith("s.json: ");
        }
        QVERIFY(threw);
    }

    void cancelStopsQuickly() {
        CancelToken token;
        int calls = 0;
        auto t_cancel = std::chrono::steady_clock::now();
        JobContext job(token, [&](const Progress& p) {
            if (++calls == 20) {
                token.cancel();
                t_cancel = std::chrono::steady_clock::now();
            }
        });
        bool cancelled = false;
        try {
            score::score_model(m_model, mixq_test::calibration_ids(4, 48), score::ScoreOptions{}, job);
        } catch (const Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cancel).count();
        QVERIFY2(s < 1.0, qPrintable(QString::number(s)));
    }

    void cancelAtManyPoints() {
        // Cancel from another thread (as the GUI does) at ten moments spread over a whole run, in exact and fast mode:
        // every run stops with mixq::Cancelled within 1 s of the cancel.
        const auto calib = mixq_test::calibration_ids(4, 48);
        for (const char* mode : {"exact", "fast"}) {
            score::ScoreOptions opt;
            opt.mode = mode;
            const auto t0 = std::chrono::steady_clock::now();
            score::score_model(m_model, calib, opt, null_job());
            const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            double worst = 0;
            int stopped = 0;
            for (int i = 0; i < 10; ++i) {
                const auto delay = std::chrono::duration<double>(whole * (0.02 + 0.075 * i));
                CancelToken token;
                JobContext job(token, {});
                std::atomic<int64_t> cancel_ns{0};
                std::thread canceller([&] {
                    std::this_thread::sleep_for(delay);
                    cancel_ns = std::chrono::steady_clock::now().time_since_epoch().count();
                    token.cancel();
                });
                bool cancelled = false;
                try {
                    score::score_model(m_model, calib, opt, job);
                } catch (const Cancelled&) {
                    cancelled = true;
                }
                const int64_t end_ns = std::chrono::steady_clock::now().time_since_epoch().count();
                canceller.join();
                if (!cancelled) continue;  // finished before the cancel (a slow start of the thread): nothing to time
                ++stopped;
                worst = std::max(worst, double(end_ns - cancel_ns.load()) / 1e9);
            }
            qInfo("%s mode: whole run %.2f s, %d of 10 runs cancelled, slowest stop after cancel %.3f s", mode, whole,
                  stopped, worst);
            QVERIFY2(stopped >= 8, qPrintable(QString("%1: only %2 of 10 runs were still going at the cancel").arg(mode).arg(stopped)));
            QVERIFY2(worst < 1.0, qPrintable(QString("%1: %2 s").arg(mode).arg(worst)));
        }
    }

    void autoModeSelection() {
        const auto f = score::estimate_footprint(1'000'000'000, 60'000'000, 65'000'000, 16, 2048, 32000, 4096, 12);
        // plenty of RAM: full
        auto d = score::choose_memory_mode(score::MemoryMode::Auto, f, 64ull << 30, {}, 16, 240'000'000);
        QCOMPARE(d.mode, score::MemoryMode::Full);
        QVERIFY(QString::fromStdString(d.reason).startsWith("memory mode auto-selected: full (free="));
        // 6 GiB: weights (4 GB fp32) + logprobs (0.5 GB) + caches do not fit 80%, one layer does
        d = score::choose_memory_mode(score::MemoryMode::Auto, f, 6ull << 30, {}, 16, 240'000'000);
        QCOMPARE(d.mode, score::MemoryMode::LowMemory);
        d = score::choose_memory_mode(score::MemoryMode::Auto, f, 1200ull << 20, {}, 16, 240'000'000);
        QCOMPARE(d.mode, score::MemoryMode::Offload);
        // two simulated 4 GiB GPUs: full (~5.5 GB) does not fit one, fits both -> multi_gpu with whole layers
        d = score::choose_memory_mode(score::MemoryMode::Auto, f, 64ull << 30, {4ull << 30, 4ull << 30}, 16, 240'000'000);
        QCOMPARE(d.mode, score::MemoryMode::MultiGpu);
        QCOMPARE(std::accumulate(d.layers_per_device.begin(), d.layers_per_device.end(), 0), 16);
        // full requested where it cannot fit (4 GiB free < 4 GB of fp32 weights + caches) is refused with the
        // numbers; low_memory is kept
        QString err;
        try {
            score::choose_memory_mode(score::MemoryMode::Full, f, 4ull << 30, {}, 16, 240'000'000);
        } catch (const Error& e) {
            err = e.what();
        }
        QVERIFY2(err.startsWith("memory mode full: needs ") && err.contains("but only 4.00 GiB of RAM is available") &&
                     err.contains("use --memory low_memory or offload"),
                 qPrintable(err));
        d = score::choose_memory_mode(score::MemoryMode::LowMemory, f, 6ull << 30, {}, 16, 240'000'000);
        QCOMPARE(d.mode, score::MemoryMode::LowMemory);
        QVERIFY(QString::fromStdString(d.reason).startsWith("memory mode requested: low_memory"));
        // the host budget includes a memory cgroup's headroom when one limits this process
        QVERIFY(score::host_available_memory() > 0);
    }

    void layerPlacement() {
        // 10 layers of 100 bytes; budgets 450, 450, 450; embed 120 on the first, head 120 on the last.
        const auto p = score::place_layers({450, 450, 450}, 10, 100, 120, 120);
        QCOMPARE(std::accumulate(p.begin(), p.end(), 0), 10);
        QCOMPARE(p[0], 3);  // 120 + 3*100 = 420 <= 450
        QCOMPARE(p[1], 4);
        QCOMPARE(p[2], 3);  // 3*100 + 120 = 420
        bool threw = false;
        try {
            score::place_layers({300, 300}, 10, 100, 0, 0);
        } catch (const Error& e) {
            threw = QString(e.what()).contains("hold 6 of 10");
        }
        QVERIFY(threw);
    }
};

QTEST_APPLESS_MAIN(TestScorer)
#include "test_scorer.moc"
