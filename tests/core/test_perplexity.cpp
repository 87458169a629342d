// SPDX-License-Identifier: MIT
// Held-out perplexity of the demo model (tokenizer + engine + windowing) against the golden PyTorch figure
// (within 0.5%), and the windowing rule on a hand-made stream.
#include <QtTest>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/eval/perplexity.h"
#include "core/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace mixq;

class TestPerplexity : public QObject {
    Q_OBJECT

private slots:
    void heldoutMatchesGolden() {
        const auto summary = nlohmann::json::parse(mixq_test::read_text(mixq_test::golden_dir() / "summary.json"));
        const auto& w = summary["heldout_windows"];
        auto model = io::Model::open(mixq_test::demo_model());
        auto tok = tok::Tokenizer::from_file(model->tokenizer_path());
        const auto stream = tok->encode(mixq_test::read_text(mixq_test::golden_dir() / w["file"].get<std::string>()));
        engine::Transformer tf(model);
        const auto r = eval::windowed_perplexity([&](const std::vector<int>& ids) { return tf.forward(ids); }, stream,
                                                 w["window"].get<int>(), w["max_tokens"].get<int64_t>());
        const double ref = summary["heldout_ppl_fp32"].get<double>();
        qInfo("held-out perplexity %.6f vs golden %.6f over %lld tokens", r.ppl, ref, (long long)r.tokens);
        QCOMPARE(r.tokens, summary["heldout_tokens_scored"].get<int64_t>());
        QVERIFY(std::fabs(r.ppl - ref) <= 0.005 * ref);
    }

    void windowRule() {
        // Logits that put all mass on token (id + 1) % 4: every target predicted exactly -> ppl 1, and the
        // number of windows/targets follows the rule "start < S - window".
        auto fn = [](const std::vector<int>& ids) {
            engine::RowMatrix l = engine::RowMatrix::Constant(static_cast<int64_t>(ids.size()), 4, -100.0f);
            for (size_t t = 0; t < ids.size(); ++t) l(static_cast<int64_t>(t), (ids[t] + 1) % 4) = 100.0f;
            return l;
        };
        std::vector<int> stream;
        for (int i = 0; i < 21; ++i) stream.push_back(i % 4);
        const auto r = eval::windowed_perplexity(fn, stream, 4, 1000);
        QCOMPARE(r.windows, 5);  // starts 0, 4, 8, 12, 16 (< 21 - 4)
        QCOMPARE(r.tokens, int64_t(20));
        QVERIFY(std::fabs(r.ppl - 1.0) < 1e-9);
        bool threw = false;
        try {
            eval::windowed_perplexity(fn, {1, 2, 3}, 4, 1000);
        } catch (const Error& e) {
            threw = QString(e.what()).contains("need more than the window");
        }
        QVERIFY(threw);
    }
};

QTEST_APPLESS_MAIN(TestPerplexity)
#include "test_perplexity.moc"
