// SPDX-License-Identifier: MIT
// The CPU engine's native batching (EngineModel::logits_batch, Transformer::forward_ragged): ragged rows with and
// without shared prefixes give each row the logits of its own single-sequence forward (Transformer::forward via
// EngineModel::logits, the independent reference), on every engine feature a row can meet: BF16 weights in place,
// fp32 copies, a plan's fake-quant weights, a Hadamard rotation, q/k/v biases and packed qkv / gate_up (qwen2), q/k norm
// (qwen3), sliding-window layers shorter than the rows (mistral, qwen2), llama3 RoPE. Then MMLU / PIQA on the demo
// model: batch 8 gives the decisions and loglikelihoods of one question at a time. A batched forward stops on cancel
// and names the layer part, the sequence and its position of a non-finite value.
#include <QtTest>

#include <cmath>

#include "core/common/error.h"
#include "core/engine/rotation.h"
#include "core/eval/engine_model.h"
#include "core/eval/loglik.h"
#include "core/eval/mmlu.h"
#include "core/eval/piqa.h"
#include "core/plan/plan_weights.h"
#include "core/tokenizer/tokenizer.h"
#include "batched_tasks.h"
#include "export_test_models.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::eval;
namespace fs = std::filesystem;

namespace {

std::vector<int> ids_of(int n, uint32_t seed, int vocab) { return mixq_test::token_ids(n, vocab, seed); }

std::vector<int> cat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

/// max |a - b| relative to the largest |b| (logits of different models differ in scale).
float rel_diff(const engine::RowMatrix& a, const engine::RowMatrix& b) {
    if (a.rows() != b.rows() || a.cols() != b.cols()) return 1e30f;
    return (a - b).cwiseAbs().maxCoeff() / std::max(1e-6f, b.cwiseAbs().maxCoeff());
}

/// Every row of `batch` from logits_batch equals the same rows of its own forward.
void check_rows(EngineModel& lm, const std::vector<engine::BatchSeq>& batch, const char* what) {
    const auto got = lm.logits_batch(batch, CancelToken());
    QCOMPARE(got.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        const engine::RowMatrix solo = lm.logits(batch[i].ids);
        const float d = rel_diff(got[i], solo.bottomRows(solo.rows() - batch[i].first));
        QVERIFY2(d <= 2e-5f, qPrintable(QString("%1, row %2 (%3 tokens): max relative |diff| %4")
                                            .arg(what).arg(i).arg(batch[i].ids.size()).arg(d)));
    }
}

/// Ragged rows (one a single token), then rows sharing two contexts (split into prefixes and suffixes; one row is
/// its context alone, one wants logits from inside its context).
void check_model(EngineModel& lm, const char* what) {
    QVERIFY(lm.batches_natively());
    const int V = lm.vocab_size();
    const std::vector<engine::BatchSeq> ragged{
        {ids_of(5, 1, V), 0}, {ids_of(61, 2, V), 30}, {ids_of(17, 3, V), 16}, {ids_of(1, 4, V), 0}};
    QVERIFY(!engine::batch_shape(ragged).split);
    check_rows(lm, ragged, what);
    const auto ctx_a = ids_of(20, 11, V), ctx_b = ids_of(7, 12, V);
    const std::vector<engine::BatchSeq> shared{{cat(ctx_a, ids_of(9, 13, V)), 19, 20},
                                               {cat(ctx_a, ids_of(3, 14, V)), 0, 20},
                                               {cat(ctx_b, ids_of(12, 15, V)), 6, 7},
                                               {ctx_a, 19, 20},
                                               {cat(ctx_b, ids_of(1, 16, V)), 3, 7}};
    QVERIFY(engine::batch_shape(shared).split);
    check_rows(lm, shared, what);
}

EngineModel engine_of(std::shared_ptr<const io::Model> model, bool in_place,
                      std::shared_ptr<const engine::Rotation> rotation = nullptr) {
    engine::EngineOptions eo;
    eo.weights_as_stored = in_place;
    eo.rotation = std::move(rotation);
    return EngineModel(std::make_shared<engine::Transformer>(std::move(model), eo));
}

}  // namespace

class TestEngineBatched : public QObject {
    Q_OBJECT

    std::shared_ptr<const io::Model> m_demo;

private slots:
    void initTestCase() { m_demo = io::Model::open(mixq_test::demo_model()); }

    void demoRowsEqualTheirOwnForwards() {
        EngineModel in_place = engine_of(m_demo, true);
        check_model(in_place, "demo, BF16 in place");
        EngineModel fp32 = engine_of(m_demo, false);
        check_model(fp32, "demo, fp32");
        const auto plan = plan::make_model_plan(*m_demo, mixq_test::uniform_format("int4-g32"));
        auto tf = std::make_shared<engine::Transformer>(plan::plan_engine(m_demo, plan));
        plan::apply_plan_fake_quant(*tf, *m_demo, plan);
        EngineModel planned(tf);
        check_model(planned, "demo, int4-g32 plan");
        // The plan changes the logits (so the comparison above ran on different weights).
        const auto ids = ids_of(9, 5, m_demo->config().vocab_size);
        QVERIFY(rel_diff(planned.logits(ids), in_place.logits(ids)) > 1e-3f);
    }

    void architecturesAndSlidingWindows_data() {
        QTest::addColumn<QString>("type");
        QTest::addColumn<bool>("packed");
        QTest::addColumn<QString>("rope");
        QTest::addColumn<int>("window");
        QTest::newRow("qwen2 packed, window 8") << "qwen2" << true << "none" << 8;
        QTest::newRow("qwen3 llama3 rope") << "qwen3" << false << "llama3" << 0;
        QTest::newRow("mistral window 5") << "mistral" << false << "none" << 5;
        QTest::newRow("llama gqa") << "llama" << false << "none" << 0;
    }
    void architecturesAndSlidingWindows() {
        QFETCH(QString, type);
        QFETCH(bool, packed);
        QFETCH(QString, rope);
        QFETCH(int, window);
        const fs::path dir = mixq_test::scratch("engine_batched") / QTest::currentDataTag();
        auto model = mixq_test::synthetic_export_model(dir, type.toStdString(), 64, 4, 2, false, packed,
                                                       rope.toStdString(), window);
        QCOMPARE(model->config().window(1), window);
        for (bool in_place : {true, false}) {
            EngineModel lm = engine_of(model, in_place);
            check_model(lm, qPrintable(type + (in_place ? " in place" : " fp32")));
        }
        if (!packed) {  // Hadamard rotation: untied, separate q/k/v
            EngineModel rotated = engine_of(model, true, std::make_shared<engine::Rotation>(model));
            check_model(rotated, qPrintable(type + " rotated"));
        }
    }

    void cancelAndNonFiniteNameTheSequence() {
        EngineModel lm = engine_of(m_demo, true);
        const std::vector<engine::BatchSeq> batch{{ids_of(12, 1, 100), 0}, {ids_of(7, 2, 100), 3}};
        CancelToken cancel;
        cancel.cancel();
        QVERIFY_THROWS_EXCEPTION(Cancelled, lm.logits_batch(batch, cancel));
        QVERIFY_THROWS_EXCEPTION(Error, lm.logits_batch({{std::vector<int>{}, 0}}, CancelToken()));
        QVERIFY_THROWS_EXCEPTION(Error, lm.logits_batch({{ids_of(3, 1, 100), 3}}, CancelToken()));
        const fs::path bad = fs::path(MIXQ_TEST_DATA_DIR) / "bad" / "nonfinite";
        for (bool in_place : {false, true}) {
            EngineModel att = engine_of(io::Model::open(bad / "overflow_attention"), in_place);
            const std::string e = mixq_test::error_of([&] { att.logits_batch({{{1, 2, 3}, 0}, {{4, 5}, 1}}, {}); });
            QVERIFY2(e.find("non-finite activations at layer 0 attention output, position 0 of sequence 1 of 2 in "
                            "the batch") != std::string::npos, e.c_str());
            // Logits: the first row asked for is position 2 of the first sequence.
            EngineModel head = engine_of(io::Model::open(bad / "overflow_logits"), in_place);
            const std::string h = mixq_test::error_of([&] { head.logits_batch({{{1, 2, 3}, 2}, {{4, 5}, 0}}, {}); });
            QVERIFY2(h.find("non-finite logits at position 2 of sequence 1 of 2 in the batch") != std::string::npos,
                     h.c_str());
        }
    }

    void batchedLoglikEqualsOneAtATime() {
        const auto qs = load_mmlu(mixq_test::eval_data_dir() / "mmlu", 32);
        const auto items = load_piqa(mixq_test::eval_data_dir() / "piqa", 32);
        const auto tok = tok::Tokenizer::from_file(mixq_test::demo_model() / "tokenizer.json");
        EngineModel lm = engine_of(m_demo, true);
        const int eos = m_demo->config().eos_token_ids.empty() ? -1 : m_demo->config().eos_token_ids[0];
        using Run = mixq_test::TaskRun;
        auto run = [&](int batch, int64_t cap) {
            LoglikOptions opt{true, 0, eos, "demo"};
            opt.batch = batch;
            opt.max_batch_tokens = cap;
            return mixq_test::run_tasks(lm, *tok, opt, qs, items);
        };
        const Run one = run(1, 0);
        QCOMPARE(one.lp.size(), size_t(32 * 4 + 32 * 2));
        for (int64_t cap : {int64_t(0), int64_t(4096)}) {  // the default 256 positions, and 8 full rows
            const Run many = run(8, cap);
            QVERIFY(many.stats.forwards < one.stats.forwards);
            QCOMPARE(many.stats.padding_tokens, int64_t(0));  // ragged: no padding computed
            double worst = 0;
            for (size_t i = 0; i < one.lp.size(); ++i) worst = std::max(worst, std::fabs(many.lp[i] - one.lp[i]));
            qInfo("cap %lld: max |batched - one at a time| = %.2e over %d loglikelihoods, forwards %lld vs %lld",
                  (long long)cap, worst, int(one.lp.size()), (long long)many.stats.forwards,
                  (long long)one.stats.forwards);
            QVERIFY2(worst <= 1e-4, qPrintable(QString("max |diff| %1").arg(worst)));
            QVERIFY(many.mmlu.predictions == one.mmlu.predictions);
            QVERIFY(many.piqa.predictions == one.piqa.predictions);
            QVERIFY(many.piqa.predictions_norm == one.piqa.predictions_norm);
        }
    }
};

QTEST_APPLESS_MAIN(TestEngineBatched)
#include "test_engine_batched.moc"
