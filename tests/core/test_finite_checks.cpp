// SPDX-License-Identifier: MIT
// Non-finite values inside the computation (issue 22): check_finite_rows / check_finite_value and the step label
// (engine/finite_check.h); the CPU engine stopping at the layer part where finite weights overflow
// (tests/data/bad/nonfinite/overflow_*), in fp32 and with 16-bit weights in place, at the logits with the decode
// position; and io::scan_weights (what `mixq info` runs) finding a NaN weight and passing the demo model.
#include <QtTest>

#include <cmath>
#include <limits>

#include "core/engine/finite_check.h"
#include "core/engine/transformer.h"
#include "core/io/weight_scan.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

fs::path bad_case(const std::string& name) { return fs::path(MIXQ_TEST_DATA_DIR) / "bad" / "nonfinite" / name; }

engine::RowMatrix ones(int rows, int cols) { return engine::RowMatrix::Ones(rows, cols); }

/// The error of a forward pass over ids 1..n of a bad case (fp32 engine, or 16-bit weights used in place).
std::string forward_error(const std::string& name, bool in_place, int n = 3) {
    auto model = io::Model::open(bad_case(name));
    engine::EngineOptions eo;
    eo.weights_as_stored = in_place;
    engine::Transformer tf(model, eo);
    std::vector<int> ids;
    for (int i = 1; i <= n; ++i) ids.push_back(i);
    return mixq_test::error_of([&] { tf.forward(ids); });
}

}  // namespace

class TestFiniteChecks : public QObject {
    Q_OBJECT

private slots:
    void firstNonFiniteRow() {
        auto m = ones(4, 37);  // 37: not a multiple of the vector width
        QCOMPARE(engine::first_nonfinite_row(m), int64_t(-1));
        m(2, 36) = std::numeric_limits<float>::quiet_NaN();
        QCOMPARE(engine::first_nonfinite_row(m), int64_t(2));
        m(1, 0) = -std::numeric_limits<float>::infinity();
        QCOMPARE(engine::first_nonfinite_row(m), int64_t(1));
        m.setConstant(std::numeric_limits<float>::max());  // finite, however large
        QCOMPARE(engine::first_nonfinite_row(m), int64_t(-1));
    }

    void messagesNameSourceWhereAndStep() {
        auto m = ones(3, 8);
        QCOMPARE(mixq_test::error_of([&] { engine::check_finite_rows(m, "M", "logits", "", 5); }), std::string());
        m(2, 1) = std::numeric_limits<float>::infinity();
        const std::string plain = mixq_test::error_of([&] { engine::check_finite_rows(m, "M", "logits", "", 5); });
        QVERIFY2(plain.rfind("M: non-finite logits at position 7 ", 0) == 0, plain.c_str());
        QVERIFY2(plain.find("while computing") == std::string::npos, plain.c_str());
        {
            const engine::NonFiniteStep outer("outer step");
            {
                const engine::NonFiniteStep inner(engine::kld_step("layers.2.mlp.down_proj", "int4-g32"));
                const std::string e = mixq_test::error_of(
                    [&] { engine::check_finite_rows(m, "M", "activations", "layer 3 MLP output"); });
                QVERIFY2(e.find("M: non-finite activations at layer 3 MLP output, position 2 while computing the KLD "
                                "of unit 'layers.2.mlp.down_proj' as int4-g32") == 0,
                         e.c_str());
            }
            const std::string e = mixq_test::error_of([&] { engine::check_finite_value(NAN, "S", "loss"); });
            QCOMPARE(e, std::string("S: non-finite loss (NaN) while computing outer step"));
        }
        QCOMPARE(mixq_test::error_of([&] { engine::check_finite_value(-INFINITY, "S", "loss"); }),
                 std::string("S: non-finite loss (-Inf)"));
        QCOMPARE(mixq_test::error_of([&] { engine::check_finite_value(1e308, "S", "loss"); }), std::string());
    }

    void engineStopsWhereFiniteWeightsOverflow_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("where");
        QTest::newRow("attention") << "overflow_attention" << "non-finite activations at layer 0 attention output, position 0";
        QTest::newRow("mlp") << "overflow_mlp" << "non-finite activations at layer 0 MLP output, position ";
        QTest::newRow("logits") << "overflow_logits" << "non-finite logits at position 0";
    }
    void engineStopsWhereFiniteWeightsOverflow() {
        QFETCH(QString, name);
        QFETCH(QString, where);
        for (bool in_place : {false, true}) {
            const std::string e = forward_error(name.toStdString(), in_place);
            const std::string want = bad_case(name.toStdString()).string() + ": " + where.toStdString();
            QVERIFY2(e.rfind(want, 0) == 0, qPrintable(QString::fromStdString(e) + (in_place ? " (in place)" : "")));
        }
    }

    void decodePositionsCountFromTheCache() {
        // The logits check names the absolute position of a decoded token, not its row in the call.
        auto model = io::Model::open(bad_case("overflow_logits"));
        engine::Transformer tf(model);
        auto cache = tf.make_cache(8);
        const std::string first = mixq_test::error_of([&] { tf.forward({1, 2, 3}, &cache); });
        QVERIFY2(first.find("non-finite logits at position 0") != std::string::npos, first.c_str());
        cache.length = 3;  // as if the prompt had passed
        const std::string next = mixq_test::error_of([&] { tf.forward({4}, &cache); });
        QVERIFY2(next.find("non-finite logits at position 3") != std::string::npos, next.c_str());
    }

    void finiteModelsPassTheChecks() {
        auto model = io::Model::open(mixq_test::demo_model());
        engine::Transformer tf(model);
        const auto logits = tf.forward({1, 2, 3, 4});
        QVERIFY(logits.allFinite());
    }

    void scanWeightsFindsTheNaNAndPassesTheDemo() {
        const auto demo = io::Model::open(mixq_test::demo_model());
        const io::WeightScan ok = io::scan_weights(demo->weights());
        QCOMPARE(ok.tensors, static_cast<int64_t>(demo->weights().tensors().size()));
        QCOMPARE(ok.bytes, demo->weights().total_bytes());
        const auto nan = io::Model::open(bad_case("nan_final_norm"));
        const std::string e = mixq_test::error_of([&] { io::scan_weights(nan->weights()); });
        QVERIFY2(e.find("model.safetensors: tensor 'model.norm.weight' holds a non-finite weight (NaN) at [5]") !=
                     std::string::npos,
                 e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestFiniteChecks)
#include "test_finite_checks.moc"
