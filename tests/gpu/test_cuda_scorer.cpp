// SPDX-License-Identifier: MIT
// The CUDA scorer against the CPU scorer on the demo model: exact and fast KLD per unit and candidate (Spearman rank
// correlation >= 0.99 and close values), relative output errors, k-quant candidates, low_memory/offload and
// multi_gpu (one GPU as several parts) equal to full, cancellation; and, with or without a GPU, the device dispatch of score::score_model_on.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/score/score_backend.h"
#include "core/score/scorer.h"
#include "core/tokenizer/tokenizer.h"
#include "gpu/cuda_backend.h"
#include "gpu/cuda_resources.h"
#include "gpu/cuda_scorer.h"
#include "gpu/gpu_test_support.h"
#include "test_support.h"

using namespace mixq;

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {  // average ranks of ties
        size_t j = i;
        while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
        for (size_t t = i; t <= j; ++t) r[idx[t]] = 0.5 * static_cast<double>(i + j);
        i = j + 1;
    }
    return r;
}

/// Spearman's rank correlation (Pearson correlation of the ranks).
double spearman(const std::vector<double>& a, const std::vector<double>& b) {
    const auto ra = ranks(a), rb = ranks(b);
    const double n = static_cast<double>(a.size());
    const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < ra.size(); ++i) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    return sab / std::sqrt(saa * sbb);
}

struct Compared {
    double rho = 0, worst_kld_rel = 0, worst_err_rel = 0;
    size_t n = 0;
    std::string worst, worst_err;
};

Compared compare(const score::ScoreTable& a, const score::ScoreTable& b) {
    Compared c;
    std::vector<double> ka, kb;
    for (size_t u = 0; u < a.units.size(); ++u)
        for (size_t i = 0; i < a.units[u].candidates.size(); ++i) {
            const auto& x = a.units[u].candidates[i];
            const auto& y = b.units[u].candidates[i];
            ka.push_back(x.kld);
            kb.push_back(y.kld);
            // fp32 summation order moves a KLD by ~1e-8 absolute (logit noise ~1e-6 × logit change ~1e-2)
            const double kr = std::fabs(x.kld - y.kld) / (std::fabs(x.kld) + 1e-6);
            if (kr > c.worst_kld_rel) {
                c.worst_kld_rel = kr;
                c.worst = a.units[u].name + " " + x.format.name() + ": " + QString::number(x.kld, 'g', 8).toStdString() +
                          " vs " + QString::number(y.kld, 'g', 8).toStdString();
            }
            const double er = std::fabs(x.rel_err - y.rel_err) / (x.rel_err + 1e-9);
            if (er > c.worst_err_rel) {
                c.worst_err_rel = er;
                c.worst_err = a.units[u].name + " " + x.format.name() + ": " + std::to_string(x.rel_err) + " vs " +
                              std::to_string(y.rel_err);
            }
        }
    c.n = ka.size();
    c.rho = spearman(ka, kb);
    return c;
}

}  // namespace

class TestCudaScorer : public QObject {
    Q_OBJECT
    std::shared_ptr<const io::Model> m_model;
    score::CalibrationSet m_calib;

    score::ScoreOptions options(const std::string& mode, score::MemoryMode mem = score::MemoryMode::Full) const {
        score::ScoreOptions o;
        o.mode = mode;
        o.memory = mem;
        o.fast_estimator = "shortcut";  // the CUDA scorer's fast mode (the Fisher estimate has no kernels yet)
        return o;
    }

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        auto tok = tok::Tokenizer::from_file(m_model->tokenizer_path());
        m_calib = score::load_calibration(*tok, {}, 4, 48);
    }

    void dispatchWithoutBackend() {  // runs on every machine
        backend::unregister_backend("cuda");
        QString err;
        try {
            score::score_model_on("cuda", m_model, m_calib, options("fast"));
        } catch (const Error& e) {
            err = e.what();
        }
        QVERIFY2(err.contains("no CUDA backend"), qPrintable(err));
        std::string why;
        QVERIFY(!backend::accelerator_usable(&why));
        QCOMPARE(QString::fromStdString(why), QString("this build has no GPU backend"));
    }

    void multiGpuNeedsTwoDevices() {  // runs on every machine: with fewer than two GPUs, one line says why
        const size_t gpus = gpu::list_devices().size();
        QString err;
        bool scored = false;
        try {
            gpu::score_model_cuda(m_model, m_calib, options("fast", score::MemoryMode::MultiGpu));
            scored = true;
        } catch (const Error& e) {
            err = e.what();
        }
        if (gpus >= 2) {  // a multi-GPU machine scores over its devices
            QVERIFY2(scored, qPrintable(err));
            return;
        }
        QVERIFY(!scored);
        QVERIFY2(!err.isEmpty() && !err.contains('\n'), qPrintable(err));
        if (gpus == 1) QVERIFY2(err.contains("multi_gpu: needs at least two GPUs, found 1"), qPrintable(err));
    }

    void multiGpuPartsMatchFull() {  // one GPU as three parts: every boundary copy and per-part buffer is exercised
        MIXQ_REQUIRE_GPU();
        for (const char* mode : {"exact", "fast"}) {
            const auto full = gpu::score_model_cuda(m_model, m_calib, options(mode));
            for (const std::vector<int>& split : {std::vector<int>{2, 3, 1}, {0, 6, 0}, {3, 0, 3}}) {
                std::vector<std::string> logs;
                JobContext job(CancelToken(), {}, [&](const std::string& l) { logs.push_back(l); });
                gpu::CudaScorerPlacement where;
                where.devices = {0, 0, 0};
                where.layer_split = split;
                const auto t = gpu::score_model_cuda(m_model, m_calib, options(mode, score::MemoryMode::MultiGpu), job,
                                                     where);
                QCOMPARE(QString::fromStdString(t.memory_mode), QString("multi_gpu"));
                QCOMPARE(QString::fromStdString(t.device).count("cuda:0"), 3);
                bool placed = false;  // the decoder logs the layers of each part
                for (const auto& l : logs) placed |= l.rfind("CudaDecoder multi_gpu:", 0) == 0;
                QVERIFY(placed);
                const Compared c = compare(full, t);
                qInfo("%s, multi_gpu %d/%d/%d vs full: worst KLD rel diff %.3g, rel_err %.3g", mode, split[0], split[1],
                      split[2], c.worst_kld_rel, c.worst_err_rel);
                QVERIFY2(c.worst_kld_rel <= 1e-6, c.worst.c_str());
                QVERIFY2(c.worst_err_rel <= 1e-6, c.worst_err.c_str());
            }
        }
        score::ScoreOptions o = options("exact");  // k-quant: importance from the taps of each layer's own part
        o.candidates = score::parse_candidates("int4-g32", quant::Method::KQuant);
        const auto full = gpu::score_model_cuda(m_model, m_calib, o);
        o.memory = score::MemoryMode::MultiGpu;
        gpu::CudaScorerPlacement where;
        where.devices = {0, 0};
        where.layer_split = {4, 2};
        const Compared c = compare(full, gpu::score_model_cuda(m_model, m_calib, o, null_job(), where));
        QVERIFY2(c.worst_kld_rel <= 1e-6, c.worst.c_str());
        QVERIFY2(c.worst_err_rel <= 1e-6, c.worst_err.c_str());
    }

    void dispatchAuto() {  // runs on every machine: auto takes the GPU only when one can be used
        gpu::register_cuda_backend();
        std::string why;
        const bool usable = gpu::cuda_available(&why, false);
        std::vector<std::string> logs;
        JobContext job(CancelToken(), {}, [&](const std::string& l) { logs.push_back(l); });
        score::ScoreOptions o = options("fast");
        o.candidates = {quant::QuantFormat::parse("int4-g32")};
        const auto t = score::score_model_on("auto", m_model, m_calib, o, job);
        if (usable) {
            QVERIFY2(QString::fromStdString(t.device).startsWith("cuda:0"), t.device.c_str());
        } else {
            QCOMPARE(QString::fromStdString(t.device), QString("cpu"));
            bool logged = false;
            for (const auto& l : logs) logged |= l.find("; scoring on the CPU") != std::string::npos;
            QVERIFY(logged);
            QString err;
            try {
                score::score_model_on("cuda", m_model, m_calib, o);
            } catch (const Error& e) {
                err = e.what();
            }
            QVERIFY2(err.contains("CUDA unavailable"), qPrintable(err));
        }
        backend::unregister_backend("cuda");
    }

    void exactMatchesCpu() {
        MIXQ_REQUIRE_GPU();
        const auto cpu = score::score_model(m_model, m_calib, options("exact"));
        const auto gpu = gpu::score_model_cuda(m_model, m_calib, options("exact"));
        QVERIFY(QString::fromStdString(gpu.device).startsWith("cuda:0"));
        QCOMPARE(gpu.units.size(), cpu.units.size());
        const Compared c = compare(cpu, gpu);
        qInfo("exact: %zu scores, Spearman %.5f, worst KLD rel diff %.3g (%s), worst rel_err rel diff %.3g", c.n, c.rho,
              c.worst_kld_rel, c.worst.c_str(), c.worst_err_rel);
        QVERIFY(c.rho >= 0.99);
        QVERIFY2(c.worst_kld_rel <= 2e-2, c.worst.c_str());
        QVERIFY2(c.worst_err_rel <= 1e-3, c.worst_err.c_str());
        for (const auto& u : gpu.units) QVERIFY2(u.candidates[2].kld < u.candidates[0].kld, u.name.c_str());
    }

    void fastMatchesCpu() {
        MIXQ_REQUIRE_GPU();
        const auto cpu = score::score_model(m_model, m_calib, options("fast"));
        const auto gpu = gpu::score_model_cuda(m_model, m_calib, options("fast"));
        const Compared c = compare(cpu, gpu);
        qInfo("fast: Spearman %.5f, worst KLD rel diff %.3g (%s)", c.rho, c.worst_kld_rel, c.worst.c_str());
        QVERIFY(c.rho >= 0.99);
        QVERIFY2(c.worst_kld_rel <= 2e-2, c.worst.c_str());
    }

    void kquantMatchesCpu() {
        MIXQ_REQUIRE_GPU();
        score::ScoreOptions o = options("exact");
        o.candidates = score::parse_candidates("int4-g32,int8-g128", quant::Method::KQuant);
        const auto cpu = score::score_model(m_model, m_calib, o);
        const auto gpu = gpu::score_model_cuda(m_model, m_calib, o);
        const Compared c = compare(cpu, gpu);
        qInfo("k-quant: Spearman %.5f, worst KLD rel diff %.3g (%s), worst rel_err diff %.3g", c.rho, c.worst_kld_rel,
              c.worst.c_str(), c.worst_err_rel);
        QVERIFY(c.rho >= 0.99);
        QVERIFY2(c.worst_kld_rel <= 2e-2, c.worst.c_str());
        QVERIFY2(c.worst_err_rel <= 1e-3, c.worst_err.c_str());
    }

    void memoryModesMatchFull() {
        MIXQ_REQUIRE_GPU();
        const auto full = gpu::score_model_cuda(m_model, m_calib, options("exact"));
        for (auto mode : {score::MemoryMode::LowMemory, score::MemoryMode::Offload}) {
            const auto t = gpu::score_model_cuda(m_model, m_calib, options("exact", mode));
            QCOMPARE(QString::fromStdString(t.memory_mode), QString(score::memory_mode_name(mode)));
            const Compared c = compare(full, t);
            qInfo("%s vs full: worst KLD rel diff %.3g", score::memory_mode_name(mode), c.worst_kld_rel);
            QVERIFY2(c.worst_kld_rel <= 1e-6, c.worst.c_str());
        }
    }

    void cancelStops() {
        MIXQ_REQUIRE_GPU();
        CancelToken token;
        int reports = 0;
        JobContext job(token, [&](const Progress&) {
            if (++reports == 5) token.cancel();
        });
        bool cancelled = false;
        try {
            gpu::score_model_cuda(m_model, m_calib, options("exact"), job);
        } catch (const Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        QVERIFY(reports >= 5 && reports <= 7);
    }
};

QTEST_GUILESS_MAIN(TestCudaScorer)
#include "test_cuda_scorer.moc"
