// SPDX-License-Identifier: MIT
// Regression cases for the ONNX model reader found by fuzz_onnx_model (tests/data/bad/onnx/, see docs/RELIABILITY.md):
// each file must fail to load with one mixq::Error line naming the model and the node/problem (before the fixes:
// int64 overflow in Reshape, a 800 TB allocation in a folded Expand, memcpy from a null pointer for an empty
// typed-field initializer). Plus the tensor-size limit on a hand-built graph.
#include <QtTest>

#include <filesystem>
#include <string>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_builder.h"
#include "core/eval/onnx/onnx_runner.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq::eval::onnx;
namespace ot = mixq::eval::onnx::onnx_type;

using mixq_test::error_of;

class TestOnnxBadModels : public QObject {
    Q_OBJECT
private slots:
    void fuzzFoundModelsFailCleanly_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("fragment");
        // Reshape to [2^57+3, 2^25]: the product exceeds 2^63.
        QTest::newRow("reshape_overflow") << "reshape_overflow.onnx" << "(Reshape): shape [144115188075855875,33554432] has too many elements";
        // Expand to [67070209294338, 3] floats = 804842511532056 bytes, far above the limit.
        QTest::newRow("expand_huge") << "expand_huge.onnx" << "(Expand): a float32[67070209294338,3] tensor needs 804842511532056 bytes";
        // An empty typed-field initializer loads (0 values); the graph then fails at a Reshape to [].
        QTest::newRow("empty_typed_initializer") << "empty_typed_initializer.onnx" << "(Reshape): cannot reshape float32[2,3] to []";
    }
    void fuzzFoundModelsFailCleanly() {
        QFETCH(QString, file);
        QFETCH(QString, fragment);
        const auto path = std::filesystem::path(MIXQ_TEST_DATA_DIR) / "bad" / "onnx" / file.toStdString();
        const std::string bytes = mixq_test::read_text(path);
        QVERIFY(!bytes.empty());
        const std::string msg = error_of([&] { OnnxRunner::from_bytes(bytes, "/nonexistent", "m.onnx"); });
        QVERIFY2(msg.rfind("m.onnx: node '", 0) == 0, msg.c_str());
        QVERIFY2(msg.find(fragment.toStdString()) != std::string::npos, msg.c_str());
        QVERIFY(msg.find('\n') == std::string::npos);
    }

    void tensorLimitIsAnError() {
        // A folded Expand of a scalar to [1000, 1000] floats needs 4,000,000 bytes.
        ModelBuilder b;
        b.input("x", ot::kFloat, {1});
        b.output("x", ot::kFloat, {1});
        b.init_f32("one", {}, {1.0f}, false);
        b.init_i64("shape", {2}, {1000, 1000}, false);
        b.node("Expand", {"one", "shape"}, {"big"}, "", "/big");
        const std::string bytes = b.serialize_inline();
        const uint64_t saved = max_tensor_bytes();
        QVERIFY(saved > 4000000);
        QVERIFY(OnnxRunner::from_bytes(bytes, ".", "m.onnx")->folded_nodes() == 1);
        set_max_tensor_bytes(3999999);
        const std::string msg = error_of([&] { OnnxRunner::from_bytes(bytes, ".", "m.onnx"); });
        set_max_tensor_bytes(saved);
        QVERIFY2(msg == "m.onnx: node '/big' (Expand): a float32[1000,1000] tensor needs 4000000 bytes, more than the "
                        "limit of 3999999", msg.c_str());
    }
};

QTEST_APPLESS_MAIN(TestOnnxBadModels)
#include "test_onnx_bad_models.moc"
