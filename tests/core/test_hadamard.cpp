// SPDX-License-Identifier: MIT
// Hadamard rotation against an explicit dense construction from the closed form
// Q[i,j] = s_i·[block(i) = block(j)]·(−1)^popcount(i mod b & j mod b)/√b: entries, orthogonality (QQᵀ = I),
// and the four fast application routines, for d = 128, 352 (= 11·32), 4096 and 11008 (= 43·256).
#include <QtTest>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "core/common/error.h"
#include "core/engine/hadamard.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::engine;

namespace {

/// The explicit Q from the closed form, using only the sign vector of the object under test.
engine::RowMatrix explicit_q(int64_t d, int64_t b, const std::vector<float>& s) {
    engine::RowMatrix q = engine::RowMatrix::Zero(d, d);
    const float inv = float(1.0 / std::sqrt(double(b)));
    for (int64_t i = 0; i < d; ++i) {
        const int64_t o = i / b * b;
        for (int64_t j = o; j < o + b; ++j) {
            const bool neg = std::popcount(uint64_t((i - o) & (j - o))) & 1;
            q(i, j) = s[i] * (neg ? -inv : inv);
        }
    }
    return q;
}

engine::RowMatrix random_matrix(int64_t r, int64_t c, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    engine::RowMatrix m(r, c);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = nd(rng);
    return m;
}

}  // namespace

class TestHadamard : public QObject {
    Q_OBJECT

private slots:
    void blockSizes() {
        QCOMPARE(Hadamard(352).block(), int64_t(32));
        QCOMPARE(Hadamard(128).block(), int64_t(128));
        QCOMPARE(Hadamard(4096).block(), int64_t(4096));
        QCOMPARE(Hadamard(11008).block(), int64_t(256));
        QCOMPARE(Hadamard(14336).block(), int64_t(2048));
        QCOMPARE(Hadamard(7).block(), int64_t(1));
        QCOMPARE(Hadamard(4096, 1, 64).block(), int64_t(64));
        QVERIFY_THROWS_EXCEPTION(Error, Hadamard(352, 1, 64));  // 64 does not divide 352
        QVERIFY_THROWS_EXCEPTION(Error, Hadamard(96, 1, 3));
        QVERIFY_THROWS_EXCEPTION(Error, Hadamard(0));
    }

    void signsDeterministic() {
        const Hadamard a(4096, 17), b(4096, 17), c(4096, 18), plain(4096, 0);
        QVERIFY(a.signs() == b.signs());
        QVERIFY(a.signs() != c.signs());
        int neg = 0;
        for (float s : a.signs()) {
            QVERIFY(s == 1.0f || s == -1.0f);
            neg += s < 0;
        }
        QVERIFY(neg > 4096 * 45 / 100 && neg < 4096 * 55 / 100);
        for (float s : plain.signs()) QCOMPARE(s, 1.0f);
    }

    void denseEqualsClosedFormAndIsOrthogonal_data() {
        QTest::addColumn<qint64>("d");
        QTest::newRow("128") << qint64(128);
        QTest::newRow("352") << qint64(352);
        QTest::newRow("4096") << qint64(4096);
        QTest::newRow("11008") << qint64(11008);
    }
    void denseEqualsClosedFormAndIsOrthogonal() {
        QFETCH(qint64, d);
        const Hadamard h(d, 0x5eed + d);
        const engine::RowMatrix ref = explicit_q(d, h.block(), h.signs());
        const engine::RowMatrix q = h.dense();
        QCOMPARE(q.rows(), ref.rows());
        const double max_diff = (q - ref).cwiseAbs().maxCoeff();
        QVERIFY2(max_diff < 1e-6, qPrintable(QString("max |Q − Q_ref| = %1").arg(max_diff)));
        // Q·Qᵀ = I. Small d: dense product in double. Large d: each row of the explicit Q rotated by the fast Qᵀ
        // (Q_ref·Qᵀ, O(d² log b) instead of a d³ GEMM).
        double max_err = 0;
        if (d <= 512) {
            const Eigen::MatrixXd qd = ref.cast<double>();
            const Eigen::MatrixXd g = qd * qd.transpose();
            max_err = (g - Eigen::MatrixXd::Identity(d, d)).cwiseAbs().maxCoeff();
            const Eigen::MatrixXd g2 = q.cast<double>() * q.cast<double>().transpose();
            max_err = std::max(max_err, (g2 - Eigen::MatrixXd::Identity(d, d)).cwiseAbs().maxCoeff());
        }
        engine::RowMatrix p = ref;
        h.apply_rows_transpose(p);
        for (int64_t i = 0; i < d; ++i)
            for (int64_t j = 0; j < d; ++j)
                max_err = std::max(max_err, double(std::fabs(p(i, j) - (i == j ? 1.0f : 0.0f))));
        QVERIFY2(max_err < 1e-6, qPrintable(QString("max |QQᵀ − I| = %1").arg(max_err)));
    }

    void fastApplicationsMatchDense() {
        for (int64_t d : {int64_t(128), int64_t(352), int64_t(96)}) {
            const Hadamard h(d, 7);
            const Eigen::MatrixXd q = explicit_q(d, h.block(), h.signs()).cast<double>();
            const engine::RowMatrix x = random_matrix(5, d, 1);
            const engine::RowMatrix w = random_matrix(d, 9, 2);
            auto check = [&](const engine::RowMatrix& got, const Eigen::MatrixXd& want, const char* what) {
                const double e = (got.cast<double>() - want).cwiseAbs().maxCoeff();
                QVERIFY2(e < 1e-5, qPrintable(QString("%1 d=%2: max err %3").arg(what).arg(d).arg(e)));
            };
            engine::RowMatrix a = x;
            h.apply_rows(a);
            check(a, x.cast<double>() * q, "x·Q");
            a = x;
            h.apply_rows_transpose(a);
            check(a, x.cast<double>() * q.transpose(), "x·Qᵀ");
            engine::RowMatrix b = w;
            h.apply_left(b.data(), b.cols());
            check(b, q * w.cast<double>(), "Q·W");
            b = w;
            h.apply_left_transpose(b.data(), b.cols());
            check(b, q.transpose() * w.cast<double>(), "Qᵀ·W");
        }
    }

    void rotationIsInvertibleAndNormPreserving() {
        // (x·Q)·Qᵀ = x and ‖x·Q‖ = ‖x‖ on the large sizes; and (xQ)(WQ)ᵀ = xWᵀ, the QuaRot identity.
        for (int64_t d : {int64_t(4096), int64_t(11008)}) {
            const Hadamard h(d, 3);
            const engine::RowMatrix x = random_matrix(3, d, 5);
            engine::RowMatrix y = x;
            h.apply_rows(y);
            QVERIFY(std::fabs(y.norm() - x.norm()) < 1e-5 * x.norm());
            QVERIFY((y - x).norm() > 0.1 * x.norm());  // it did rotate
            const engine::RowMatrix w = random_matrix(4, d, 6);
            engine::RowMatrix wr = w;
            h.apply_rows(wr);
            const Eigen::MatrixXd ref = x.cast<double>() * w.cast<double>().transpose();
            const Eigen::MatrixXd rot = y.cast<double>() * wr.cast<double>().transpose();
            QVERIFY((ref - rot).cwiseAbs().maxCoeff() < 1e-3);
            h.apply_rows_transpose(y);
            QVERIFY((y - x).cwiseAbs().maxCoeff() < 1e-5);
        }
    }
};

QTEST_APPLESS_MAIN(TestHadamard)
#include "test_hadamard.moc"
