// SPDX-License-Identifier: MIT
// Timing of int4-g32 RTN and k-quant on a 4096x4096 Gaussian matrix (reported with qInfo), with sanity checks on
// the result: the RTN relative RMS error is near the closed-form estimate for Gaussian blocks, k-quant is lower.
#include <QElapsedTimer>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <vector>

#include "core/quant/quantizer.h"
#include "test_support.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace mixq;
using namespace mixq::quant;

class TestQuantPerf : public QObject {
    Q_OBJECT

    static double rel_rms(const std::vector<float>& w, const std::vector<float>& d) {
        double e = 0, s = 0;
        for (size_t i = 0; i < w.size(); ++i) {
            e += (double(w[i]) - d[i]) * (double(w[i]) - d[i]);
            s += double(w[i]) * w[i];
        }
        return std::sqrt(e / s);
    }

private slots:
    void int4g32_4096x4096() {
        const int64_t n = 4096, k = 4096;
        std::vector<float> w(n * k);
        std::mt19937 rng(42);
        std::normal_distribution<float> nd(0.0f, 0.02f);
        for (auto& v : w) v = nd(rng);
        int threads = 1;
#if defined(_OPENMP)
        threads = omp_get_max_threads();
#endif
        // Best of three runs each: the build machine is shared, single runs are noisy.
        QuantFormat f = QuantFormat::parse("int4-g32");
        QuantFormat fk = f;
        fk.method = Method::KQuant;
        std::vector<float> dr(n * k), dk(n * k);
        QuantizedMatrix qr, qk;
        double ms_rtn = 1e30, ms_kq = 1e30, ms_dq = 1e30, cpu_rtn = 1e30, cpu_kq = 1e30;
        auto cpu_ms = [] { return 1000.0 * double(std::clock()) / CLOCKS_PER_SEC; };
        for (int rep = 0; rep < 3; ++rep) {
            QElapsedTimer t;
            t.start();
            double c0 = cpu_ms();
            qr = quantize(w.data(), n, k, f, io::DType::BF16);
            ms_rtn = std::min(ms_rtn, t.nsecsElapsed() / 1e6);
            cpu_rtn = std::min(cpu_rtn, cpu_ms() - c0);
            t.restart();
            c0 = cpu_ms();
            qk = quantize(w.data(), n, k, fk, io::DType::BF16);
            ms_kq = std::min(ms_kq, t.nsecsElapsed() / 1e6);
            cpu_kq = std::min(cpu_kq, cpu_ms() - c0);
            t.restart();
            dequantize(qr, dr.data());
            ms_dq = std::min(ms_dq, t.nsecsElapsed() / 1e6);
        }
        dequantize(qk, dk.data());
        const double er = rel_rms(w, dr), ek = rel_rms(w, dk);
        qInfo("4096x4096 int4-g32, %d OpenMP thread(s), best of 3: RTN %.1f ms (CPU %.1f ms), k-quant %.1f ms "
              "(CPU %.1f ms), dequantize %.1f ms; relative RMS error RTN %.5f, k-quant %.5f",
              threads, ms_rtn, cpu_rtn, ms_kq, cpu_kq, ms_dq, er, ek);
        // Gaussian blocks of 32: range ≈ 4.1σ (expected max − min), step ≈ range/15, RMS ≈ step/√12 ≈ 0.079σ.
        QVERIFY2(er > 0.06 && er < 0.10, qPrintable(QString("RTN rel RMS %1").arg(er)));
        QVERIFY(ek < er);
    }
};

QTEST_APPLESS_MAIN(TestQuantPerf)
#include "test_quant_perf.moc"
