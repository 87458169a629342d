// SPDX-License-Identifier: MIT
// CPU engine against the PyTorch goldens of the demo model: logits (max abs ≤ 1e-3), KV-cache decode equal to
// a full forward, the staged (layer-by-layer) path equal to forward(), and the x·Wᵀ kernel against a double-precision
// loop.
#include <QtTest>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/engine/linear.h"
#include "core/engine/transformer.h"
#include "test_support.h"

using namespace mixq;

class TestEngine : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;

private slots:
    void initTestCase() { m_model = io::Model::open(mixq_test::demo_model()); }

    void logitsMatchGolden() {
        const auto summary = nlohmann::json::parse(mixq_test::read_text(mixq_test::golden_dir() / "summary.json"));
        const auto ids = summary["input_ids"].get<std::vector<int>>();
        const auto shape = summary["logits_shape"].get<std::vector<int>>();
        const std::string raw = mixq_test::read_text(mixq_test::golden_dir() / "logits.f32");
        QCOMPARE(raw.size(), size_t(shape[0]) * shape[1] * 4);
        const float* ref = reinterpret_cast<const float*>(raw.data());

        engine::Transformer tf(m_model);
        const auto logits = tf.forward(ids);
        QCOMPARE(int(logits.rows()), shape[0]);
        QCOMPARE(int(logits.cols()), shape[1]);
        double max_err = 0;
        for (int t = 0; t < shape[0]; ++t)
            for (int j = 0; j < shape[1]; ++j)
                max_err = std::max(max_err, double(std::fabs(logits(t, j) - ref[size_t(t) * shape[1] + j])));
        qInfo("max abs logits error vs golden: %.3g", max_err);
        QVERIFY2(max_err <= 1e-3, qPrintable(QString("max abs error %1").arg(max_err)));
        const auto argmax = summary["argmax"].get<std::vector<int>>();
        for (int t = 0; t < shape[0]; ++t) {
            Eigen::Index j;
            logits.row(t).maxCoeff(&j);
            QCOMPARE(int(j), argmax[t]);
        }
    }

    void cachedDecodeEqualsFullForward() {
        engine::Transformer tf(m_model);
        const std::vector<int> ids = {959, 259, 889, 261, 110, 283, 431, 279, 552, 285, 259, 915};
        const auto full = tf.forward(ids);
        auto cache = tf.make_cache(64);
        std::vector<int> prompt(ids.begin(), ids.begin() + 5);
        auto part = tf.forward(prompt, &cache);
        double err = (part - full.topRows(5)).cwiseAbs().maxCoeff();
        for (size_t t = 5; t < ids.size(); ++t) {
            auto step = tf.forward({ids[t]}, &cache);
            err = std::max(err, double((step.row(0) - full.row(t)).cwiseAbs().maxCoeff()));
        }
        QCOMPARE(cache.length, int(ids.size()));
        QVERIFY2(err < 1e-4, qPrintable(QString("decode vs full %1").arg(err)));
    }

    void stagedEqualsForward() {
        engine::Transformer full(m_model);
        engine::EngineOptions streamed;
        streamed.resident = false;
        engine::Transformer low(m_model, streamed);
        const std::vector<int> ids = {72, 526, 111, 44, 892, 33};
        const auto ref = full.forward(ids);
        auto h = low.embed(ids);
        for (int l = 0; l < m_model->config().num_layers; ++l) low.run_layer(l, h);
        const auto got = low.logits(h);
        QCOMPARE((got - ref).cwiseAbs().maxCoeff(), 0.0f);
    }

    void overrideChangesOutputAndClears() {
        engine::Transformer tf(m_model);
        const std::vector<int> ids = {72, 526, 111};
        const auto ref = tf.forward(ids);
        const std::string name = io::TensorNames::down(2);
        auto w = std::make_shared<engine::RowMatrix>(tf.load_matrix(name));
        *w *= 0.0f;
        tf.set_override(name, w);
        const auto changed = tf.forward(ids);
        QVERIFY((changed - ref).cwiseAbs().maxCoeff() > 1e-3);
        tf.clear_overrides();
        QCOMPARE((tf.forward(ids) - ref).cwiseAbs().maxCoeff(), 0.0f);
    }

    void matmulWtMatchesDoubleReference() {
        // y = x·Wᵀ against a double-precision loop, across the few-row kernel (T <= 4), the 64-row-block GEMM path
        // (N below, at and across block edges) and both sides of the threading threshold (N·K = 65536); the blocked
        // path must give the same bits for any thread count.
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (int64_t T : {1, 4, 5, 64, 130})
            for (int64_t N : {1, 63, 64, 65, 1000})
                for (int64_t K : {7, 512}) {
                    engine::RowMatrix x(T, K), w(N, K), y;
                    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
                    for (int64_t i = 0; i < w.size(); ++i) w.data()[i] = u(rng);
                    engine::matmul_wt(x, w, y);
                    QCOMPARE(y.rows(), T);
                    QCOMPARE(y.cols(), N);
                    double worst = 0;
                    for (int64_t t = 0; t < T; ++t)
                        for (int64_t n = 0; n < N; ++n) {
                            double ref = 0, mag = 0;
                            for (int64_t k = 0; k < K; ++k) {
                                ref += double(x(t, k)) * double(w(n, k));
                                mag += std::fabs(double(x(t, k)) * double(w(n, k)));
                            }
                            worst = std::max(worst, std::fabs(double(y(t, n)) - ref) / (mag * 1e-5 + 1e-30));
                        }
                    QVERIFY2(worst <= 1.0, qPrintable(QString("T=%1 N=%2 K=%3: error %4 x 1e-5 sum|x*w|")
                                                          .arg(T).arg(N).arg(K).arg(worst)));
                    const int threads = omp_get_max_threads();
                    omp_set_num_threads(threads == 1 ? 2 : 1);
                    engine::RowMatrix y2;
                    engine::matmul_wt(x, w, y2);
                    omp_set_num_threads(threads);
                    QVERIFY2(std::memcmp(y.data(), y2.data(), size_t(y.size()) * 4) == 0,
                             qPrintable(QString("T=%1 N=%2 K=%3 differs across thread counts").arg(T).arg(N).arg(K)));
                }
    }

    void rejectsOutOfVocabIds() {
        engine::Transformer tf(m_model);
        bool threw = false;
        try {
            tf.forward({5000});
        } catch (const mixq::Error& e) {
            threw = QString(e.what()).contains("outside the vocabulary");
        }
        QVERIFY(threw);
    }
};

QTEST_APPLESS_MAIN(TestEngine)
#include "test_engine.moc"
