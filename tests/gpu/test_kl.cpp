// SPDX-License-Identifier: MIT
// Fused log-softmax + KL kernel against a per-row double reference and against core's score::kl_sum, for vocab 1000
// and 151936 (Qwen), F32/BF16/F16 logits, padded row strides, identical rows (KL = 0) and −inf logits in the reference.
#include <QtTest>

#include <cmath>

#include "core/score/kl_divergence.h"
#include "gpu/gpu_test_support.h"
#include "gpu/kl_div.cuh"
#include "test_support.h"

using namespace mixq;
using namespace mixq_gpu_test;

namespace {

/// KL(softmax(a) ‖ softmax(b)) in double, terms with p = 0 skipped.
double ref_kl(const float* a, const float* b, int v) {
    double ma = -1e300, mb = -1e300;
    for (int j = 0; j < v; ++j) {
        ma = std::max(ma, double(a[j]));
        mb = std::max(mb, double(b[j]));
    }
    double sa = 0, sb = 0;
    for (int j = 0; j < v; ++j) {
        sa += std::exp(double(a[j]) - ma);
        sb += std::exp(double(b[j]) - mb);
    }
    const double lsa = ma + std::log(sa), lsb = mb + std::log(sb);
    double kl = 0;
    for (int j = 0; j < v; ++j) {
        if (std::isinf(a[j])) continue;
        const double lp = a[j] - lsa;
        kl += std::exp(lp) * (lp - (double(b[j]) - lsb));
    }
    return std::max(kl, 0.0);
}

}  // namespace

class TestGpuKl : public QObject {
    Q_OBJECT

private slots:
    void klMatchesReferences() {
        MIXQ_REQUIRE_GPU();
        struct Case {
            int rows, vocab, stride;
            float spread;
        };
        for (DType t : {DType::F32, DType::BF16, DType::F16})
            for (Case c : {Case{5, 1000, 1000, 3.0f}, Case{4, 1000, 1003, 12.0f}, Case{3, 151936, 151936, 4.0f}}) {
                auto ref = randn(size_t(c.rows) * c.stride, 81 + c.vocab, c.spread);
                auto cand = ref;
                const auto noise = randn(cand.size(), 82 + c.vocab, 0.3f);
                // row-varying distance, every element moved (a spread-out row's mass sits on a few tokens)
                for (size_t i = 0; i < cand.size(); ++i) cand[i] += noise[i] * float(1 + (i / size_t(c.stride)) % 3);
                for (int j = 0; j < c.vocab; ++j) cand[j] = ref[j];  // row 0: identical rows
                ref[size_t(c.stride) + 7] = -INFINITY;               // row 1: p = 0 for one token
                ref = rounded(ref, t);
                cand = rounded(cand, t);
                auto da = upload(ref, t), db = upload(cand, t);
                gpu::DeviceBuffer dk(size_t(c.rows) * 8);
                MIXQ_CUDA_OK(gpu::kl_rows(da.data(), db.data(), t, c.rows, c.vocab, c.stride, dk.as<double>(), nullptr));
                std::vector<double> kl(c.rows);
                gpu::check_cuda(cudaDeviceSynchronize(), "sync");
                dk.download(kl.data(), kl.size() * 8);
                double sum = 0;
                for (int r = 0; r < c.rows; ++r) {
                    const double want = ref_kl(ref.data() + size_t(r) * c.stride, cand.data() + size_t(r) * c.stride, c.vocab);
                    QVERIFY2(std::fabs(kl[r] - want) <= 1e-6 + 1e-4 * want,
                             qPrintable(QString("%1 vocab %2 row %3: KL %4, want %5").arg(dt_name(t)).arg(c.vocab).arg(r)
                                            .arg(kl[r], 0, 'g', 10).arg(want, 0, 'g', 10)));
                    if (r == 0) QVERIFY2(kl[r] <= 1e-6, "identical rows must give KL ~ 0");
                    // Different rows give a positive KL (row 1 of the spread-12 case keeps ~1e-6: its mass sits on one
                    // token); the check above already ties kl[r] to the double reference.
                    else QVERIFY2(kl[r] > 1e-7 && want > 1e-7, "different rows must give a positive KL");
                    sum += kl[r];
                }
                // core's kl_sum over rows 2.. (finite reference logits: its fp32 log-probs are compared loosely)
                engine::RowMatrix a(c.rows - 2, c.vocab), b(c.rows - 2, c.vocab);
                double part = 0;
                for (int r = 2; r < c.rows; ++r) {
                    for (int j = 0; j < c.vocab; ++j) {
                        a(r - 2, j) = ref[size_t(r) * c.stride + j];
                        b(r - 2, j) = cand[size_t(r) * c.stride + j];
                    }
                    part += kl[r];
                }
                const double core = score::kl_sum(score::log_softmax(a), b);
                QVERIFY2(std::fabs(part - core) <= 1e-5 + 1e-3 * core,
                         qPrintable(QString("%1 vocab %2: sum %3 vs core kl_sum %4").arg(dt_name(t)).arg(c.vocab)
                                        .arg(part, 0, 'g', 10).arg(core, 0, 'g', 10)));
                QVERIFY(std::isfinite(sum));
            }
    }

    void rejectsBadArguments() {
        MIXQ_REQUIRE_GPU();
        gpu::DeviceBuffer b(64);
        QCOMPARE(gpu::kl_rows(b.data(), b.data(), DType::F32, 1, 10, 5, b.as<double>(), nullptr), cudaErrorInvalidValue);
        QCOMPARE(gpu::kl_rows(nullptr, b.data(), DType::F32, 1, 10, 0, b.as<double>(), nullptr), cudaErrorInvalidValue);
    }
};

QTEST_APPLESS_MAIN(TestGpuKl)
#include "test_kl.moc"
