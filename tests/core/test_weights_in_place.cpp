// SPDX-License-Identifier: MIT
// BF16 / F16 weights used in place (EngineOptions::weights_as_stored): HalfLinear against a DenseLinear of the
// same weights widened to fp32 (decode and prefill shapes, odd K, bias, int8 activation blocks); whole-model logits
// of the demo model and of packed / fused generated layouts against the fp32 engine; a plan applied in place; and
// the memory claim: the peak RSS a forward pass adds is about the file size, where the fp32 engine needs twice it.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "core/common/error.h"
#include "core/common/half.h"
#include "core/engine/half_linear.h"
#include "core/io/dtype.h"
#include "core/engine/transformer.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_weights.h"
#include "process_memory.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

using mixq_test::reset_peak;
using mixq_test::status_bytes;

double max_rel_diff(const engine::RowMatrix& a, const engine::RowMatrix& b) {
    return (a - b).cwiseAbs().maxCoeff() / std::max(1e-6f, b.cwiseAbs().maxCoeff());
}

engine::Transformer engine_for(const std::shared_ptr<io::Model>& m, bool in_place) {
    engine::EngineOptions eo;
    eo.weights_as_stored = in_place;
    return engine::Transformer(m, eo);
}

}  // namespace

class TestWeightsInPlace : public QObject {
    Q_OBJECT

private slots:
    void conversionMatchesTheScalarDefinition() {
        // io::convert_to_f32 (vectorized, eight at a time) against the scalar definitions, for every F16 bit pattern
        // and a BF16 sweep, at every start offset 0..15 bytes (safetensors data need not be aligned) and tail length.
        std::vector<uint16_t> all(65536);
        for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
        for (io::DType dt : {io::DType::F16, io::DType::BF16})
            for (size_t offset = 0; offset < 16; ++offset)
                for (size_t n : {size_t(1), size_t(7), size_t(8), size_t(9), size_t(23), all.size() - 16}) {
                    std::vector<unsigned char> bytes(2 * n + offset);
                    std::memcpy(bytes.data() + offset, all.data() + (offset * 37) % 16, 2 * n);
                    std::vector<float> got(n);
                    io::convert_to_f32(dt, bytes.data() + offset, got.data(), n);
                    for (size_t i = 0; i < n; ++i) {
                        uint16_t h;
                        std::memcpy(&h, bytes.data() + offset + 2 * i, 2);
                        const float want = dt == io::DType::F16 ? f16_to_float(h) : [&] {
                            const uint32_t bits = uint32_t(h) << 16;  // bf16 is the high half of an fp32
                            float f;
                            std::memcpy(&f, &bits, 4);
                            return f;
                        }();
                        uint32_t a, b;
                        std::memcpy(&a, &got[i], 4);
                        std::memcpy(&b, &want, 4);
                        // Bit-identical, NaNs included (payloads may differ only in the quiet bit for F16 NaNs).
                        if (std::isnan(want)) QVERIFY(std::isnan(got[i]));
                        else if (a != b) QFAIL(qPrintable(QString("dtype %1 offset %2 n %3 i %4: 0x%5 -> %6, want %7")
                                                             .arg(int(dt)).arg(offset).arg(n).arg(i).arg(h, 4, 16, QChar('0'))
                                                             .arg(got[i]).arg(want)));
                    }
                }
    }

    void halfLinearMatchesWidenedWeights() {
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        for (const io::DType dt : {io::DType::BF16, io::DType::F16}) {
            const int64_t N = 37, K = 131;  // K not a multiple of the 8-lane loop
            engine::RowMatrix w32(N, K);
            for (int64_t i = 0; i < w32.size(); ++i) w32.data()[i] = 0.1f * nd(rng);
            std::vector<uint16_t> raw(static_cast<size_t>(N * K));
            io::convert_from_f32(dt, w32.data(), raw.data(), raw.size());
            engine::RowMatrix widened(N, K);
            io::convert_to_f32(dt, raw.data(), widened.data(), raw.size());
            engine::Vector bias = engine::Vector::Random(N);
            for (const int64_t act_block : {int64_t(0), int64_t(32)}) {
                const engine::HalfLinear half(raw.data(), N, K, dt, nullptr, bias, act_block);
                const engine::DenseLinear dense(widened, bias, act_block);
                QCOMPARE(half.to_f32(), widened);
                for (const int64_t T : {1, 3, 4, 5, 70}) {
                    engine::RowMatrix x(T, K);
                    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
                    engine::RowMatrix a, b;
                    half.forward(x, a);
                    dense.forward(x, b);
                    QCOMPARE(a.rows(), T);
                    QVERIFY2(max_rel_diff(a, b) < 1e-5, qPrintable(QString("dtype %1 T %2 act %3: %4")
                                                                       .arg(io::dtype_name(dt)).arg(T).arg(act_block)
                                                                       .arg(max_rel_diff(a, b))));
                }
            }
        }
    }

    void demoModelLogitsMatchTheFp32Engine() {
        auto m = io::Model::open(mixq_test::demo_model());  // BF16, tied embeddings
        QCOMPARE(m->weights().info("model.embed_tokens.weight").dtype, io::DType::BF16);
        const std::vector<int> ids = {5, 17, 300, 42, 9, 1000, 77, 3, 12};
        auto fp32 = engine_for(m, false), in_place = engine_for(m, true);
        QVERIFY(max_rel_diff(in_place.forward(ids), fp32.forward(ids)) < 1e-5);
        // Incremental decode through the KV cache agrees too (the few-row kernel).
        auto c1 = fp32.make_cache(16), c2 = in_place.make_cache(16);
        fp32.forward(ids, &c1);
        in_place.forward(ids, &c2);
        QVERIFY(max_rel_diff(in_place.forward({8}, &c2), fp32.forward({8}, &c1)) < 1e-5);
        QCOMPARE(in_place.decode_weight_bytes() * 2, fp32.decode_weight_bytes());
        QVERIFY_THROWS_EXCEPTION(Error, in_place.forward({m->config().vocab_size}));
        // A plan applied in place: quantized units are fp32 overrides, the units it keeps 16-bit stay in the file.
        const auto plan = plan::make_model_plan(*m, [](const io::QuantUnit& u) {
            return quant::QuantFormat::parse(u.kind == io::UnitKind::Down ? "fp16" : "int4-g32");
        });
        auto p1 = engine_for(m, false), p2 = engine_for(m, true);
        plan::apply_plan_fake_quant(p1, *m, plan);
        plan::apply_plan_fake_quant(p2, *m, plan);
        QVERIFY(max_rel_diff(p2.forward(ids), p1.forward(ids)) < 1e-5);
        QVERIFY(max_rel_diff(p2.forward(ids), in_place.forward(ids)) > 1e-3);  // the plan did change the model
    }

    void packedAndFusedLayoutsInPlace() {
        for (const io::DType dt : {io::DType::BF16, io::DType::F16}) {
            io::SyntheticSpec spec = io::SyntheticSpec::preset("tiny");
            spec.dtype = dt;
            spec.packed_qkv = true;
            spec.fused_gate_up = true;
            spec.config.attention_bias = true;
            const fs::path dir = mixq_test::scratch("in_place_packed") / io::dtype_name(dt);
            io::write_synthetic_model(dir, spec);
            auto m = io::Model::open(dir);
            const std::vector<int> ids = {1, 2, 3, 4, 5, 6};
            QVERIFY(max_rel_diff(engine_for(m, true).forward(ids), engine_for(m, false).forward(ids)) < 1e-5);
        }
    }

    void forwardNeedsAboutTheFileSizeInMemory() {
        // A generated BF16 model of ~40 MB: the memory a first forward adds (VmHWM after − VmRSS before) is the
        // mapped file's pages plus activations in place, and the fp32 copies (2x the file) plus those pages without.
        io::SyntheticSpec spec = io::SyntheticSpec::preset("tiny");
        spec.config.hidden_size = 512;
        spec.config.intermediate_size = 1536;
        spec.config.num_layers = 6;
        spec.config.num_heads = 8;
        spec.config.num_kv_heads = 4;
        spec.config.head_dim = 64;
        spec.config.vocab_size = 8192;
        const fs::path dir = mixq_test::scratch("in_place_rss") / "model";
        io::write_synthetic_model(dir, spec);
        const double file = static_cast<double>(fs::file_size(dir / "model.safetensors"));
        const std::vector<int> ids(32, 7);
        double added[2];
        for (const bool in_place : {true, false}) {
            auto m = io::Model::open(dir);
            auto tf = engine_for(m, in_place);
            if (!reset_peak()) QSKIP("MIXQ-SKIP: /proc/self/clear_refs is not writable here");
            const double before = static_cast<double>(status_bytes("VmRSS"));
            tf.forward(ids);
            added[in_place ? 0 : 1] = static_cast<double>(status_bytes("VmHWM")) - before;
        }
        qInfo("file %.1f MB; peak added by a forward: in place %.1f MB (%.2fx the file), fp32 copy %.1f MB (%.2fx)",
              file / 1e6, added[0] / 1e6, added[0] / file, added[1] / 1e6, added[1] / file);
        QVERIFY2(added[0] <= 1.25 * file, qPrintable(QString::number(added[0] / file)));
        QVERIFY(added[1] >= 1.8 * file);  // the check above could tell the two apart
    }
};

QTEST_APPLESS_MAIN(TestWeightsInPlace)
#include "test_weights_in_place.moc"
