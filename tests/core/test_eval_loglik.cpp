// SPDX-License-Identifier: MIT
// Log-likelihood of continuations (LoglikScorer) against brute force: a fake LanguageModel whose logits are a
// known function of the token history (tokenization, whitespace move, left truncation, prefix reuse on/off), and
// the CPU engine on the demo model (shared-prefix KV forks vs one full forward per choice, with timings).
#include <QtTest>

#include <chrono>
#include <cmath>

#include "core/common/error.h"
#include "core/eval/engine_model.h"
#include "core/eval/loglik.h"
#include "core/eval/mmlu.h"
#include "core/eval/piqa.h"
#include "core/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::eval;

namespace {

constexpr int kVocab = 1024;

/// The fake's logits for the position after `history`: a deterministic function of the whole history.
std::vector<double> fake_row(const std::vector<int>& history) {
    uint64_t h = 1469598103934665603ull;
    for (int id : history) h = (h ^ static_cast<uint64_t>(id)) * 1099511628211ull;
    std::vector<double> row(kVocab);
    for (int j = 0; j < kVocab; ++j) row[static_cast<size_t>(j)] = 4.0 * std::sin(static_cast<double>((h >> 20) % 1000) + 0.37 * j);
    return row;
}

class FakeSession : public engine::LmSession {
public:
    FakeSession(int capacity, int64_t* fed) : m_capacity(capacity), m_fed(fed) {}
    engine::RowMatrix feed(const std::vector<int>& ids) override {
        if (static_cast<int>(m_hist.size() + ids.size()) > m_capacity) throw std::runtime_error("capacity exceeded");
        engine::RowMatrix out(static_cast<int64_t>(ids.size()), kVocab);
        for (size_t t = 0; t < ids.size(); ++t) {
            m_hist.push_back(ids[t]);
            const auto row = fake_row(m_hist);
            for (int j = 0; j < kVocab; ++j) out(static_cast<int64_t>(t), j) = static_cast<float>(row[static_cast<size_t>(j)]);
        }
        *m_fed += static_cast<int64_t>(ids.size());
        return out;
    }
    int length() const override { return static_cast<int>(m_hist.size()); }
    std::unique_ptr<engine::LmSession> fork() const override { return std::make_unique<FakeSession>(*this); }

private:
    int m_capacity;
    int64_t* m_fed;
    std::vector<int> m_hist;
};

class FakeLm : public engine::LanguageModel {
public:
    int64_t fed = 0;
    int ctx = 512;
    std::string backend() const override { return "fake"; }
    int vocab_size() const override { return kVocab; }
    int context_length() const override { return ctx; }
    std::unique_ptr<engine::LmSession> start(int capacity) override { return std::make_unique<FakeSession>(capacity, &fed); }
    uint64_t weight_bytes_per_token() override { return 0; }
};

/// The fake as a model that batches natively: logits_batch computes each row from its own history (the fake has
/// no padding) and records the largest forward it was handed.
class BatchingFakeLm : public FakeLm {
public:
    size_t most_rows = 0;
    int64_t most_padded = 0;
    int calls = 0;
    bool batches_natively() const override { return true; }
    std::vector<engine::RowMatrix> logits_batch(const std::vector<engine::BatchSeq>& seqs, const CancelToken& cancel) override {
        ++calls;
        most_rows = std::max(most_rows, seqs.size());
        size_t longest = 0;
        for (const auto& s : seqs) longest = std::max(longest, s.ids.size());
        most_padded = std::max(most_padded, static_cast<int64_t>(longest * seqs.size()));
        return FakeLm::logits_batch(seqs, cancel);
    }
};

/// Sum of log-softmax(fake_row(all[:p]))[all[p]] over the continuation positions, in double.
double brute(const std::vector<int>& all, size_t n_cont) {
    double s = 0.0;
    for (size_t p = all.size() - n_cont; p < all.size(); ++p) {
        const auto row = fake_row(std::vector<int>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(p)));
        double mx = row[0];
        for (double v : row) mx = std::max(mx, v);
        double z = 0.0;
        for (double v : row) z += std::exp(v - mx);
        s += row[static_cast<size_t>(all[p])] - mx - std::log(z);
    }
    return s;
}

std::vector<int> cat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

class TestEvalLoglik : public QObject {
    Q_OBJECT

    std::unique_ptr<tok::Tokenizer> m_tok;

private slots:
    void initTestCase() { m_tok = tok::Tokenizer::from_file(mixq_test::demo_model() / "tokenizer.json"); }

    void matchesBruteForceOnAFakeModel() {
        const std::string ctx = "Question: How do I boil an egg?\nAnswer:";
        const std::vector<std::string> conts{" Put it in boiling water.", " Freeze it.", " A", " Put it in cold water."};
        for (bool reuse : {true, false}) {
            FakeLm lm;
            LoglikScorer sc(lm, *m_tok, {reuse, 0, -1});
            const auto r = sc.score(ctx, conts);
            QCOMPARE(r.size(), conts.size());
            const auto cids = m_tok->encode(ctx);
            int64_t naive_fed = 0;
            for (size_t i = 0; i < conts.size(); ++i) {
                const auto k = m_tok->encode(conts[i]);
                QCOMPARE(r[i].tokens, static_cast<int>(k.size()));
                const double ref = brute(cat(cids, k), k.size());
                QVERIFY2(std::fabs(r[i].logprob - ref) < 1e-4, qPrintable(QString("%1 vs %2").arg(r[i].logprob).arg(ref)));
                naive_fed += static_cast<int64_t>(cids.size() + k.size() - 1);
            }
            // Prefix reuse runs the shared context once.
            if (reuse) QVERIFY(lm.fed < naive_fed);
            else QCOMPARE(lm.fed, naive_fed);
            QCOMPARE(sc.stats().tokens_fed, lm.fed);
        }
    }

    void batchedScoringMatchesBruteForceOnAFakeModel() {
        // Several questions per call: multi-token continuations get their own rows, one-token ones share the
        // context's row; forwards hold at most `batch` rows and `max_batch_tokens` padded positions.
        const std::vector<LoglikQuestion> qs{
            {"Question: How do I boil an egg?\nAnswer:", {" Put it in boiling water.", " Freeze it.", " A", " B"}},
            {"The following are questions.\nAnswer:", {" A", " B", " C", " D"}},
            {"Question: Why is the sky blue?\nAnswer:", {" Scattering of light by the air.", " Paint."}},
            {"In the beginning God created", {" the heaven and the earth.", " A"}}};
        for (bool reuse : {true, false}) {
            BatchingFakeLm lm;
            LoglikOptions opt{reuse, 0, -1};
            opt.batch = 3;
            opt.max_batch_tokens = 48;
            LoglikScorer sc(lm, *m_tok, opt);
            QCOMPARE(sc.questions_per_call(), 12);
            const auto r = sc.score_many(qs, CancelToken());
            QCOMPARE(r.size(), qs.size());
            int64_t rows = 0;
            for (size_t q = 0; q < qs.size(); ++q) {
                const auto cids = m_tok->encode(qs[q].context);
                bool ctx_row = false;
                for (size_t i = 0; i < qs[q].continuations.size(); ++i) {
                    const auto k = m_tok->encode(qs[q].continuations[i]);
                    QCOMPARE(r[q][i].tokens, static_cast<int>(k.size()));
                    const double ref = brute(cat(cids, k), k.size());
                    QVERIFY2(std::fabs(r[q][i].logprob - ref) < 1e-4, qPrintable(QString("q%1 c%2: %3 vs %4").arg(q).arg(i).arg(r[q][i].logprob).arg(ref)));
                    if (!reuse || k.size() > 1) ++rows;
                    else ctx_row = true;
                }
                // With reuse, one-token continuations read a multi-token row's context or one context row.
                bool has_multi = false;
                for (const auto& c : qs[q].continuations) has_multi |= m_tok->encode(c).size() > 1;
                if (reuse && ctx_row && !has_multi) ++rows;
            }
            QVERIFY(lm.most_rows <= 3);
            QVERIFY(lm.most_padded <= 48);
            QVERIFY(lm.calls >= (rows + 2) / 3);
            QCOMPARE(sc.stats().requests, int64_t(12));
            // Stats count what a prefix-sharing backend computes (batch_seq.h); this fake runs every row whole.
            if (reuse) {
                QVERIFY(sc.stats().forwards >= int64_t(lm.calls));
                QVERIFY(sc.stats().tokens_fed <= lm.fed);
            } else {
                QCOMPARE(sc.stats().forwards, int64_t(lm.calls));
                QCOMPARE(sc.stats().tokens_fed, lm.fed);
            }
            // Batching is skipped on a model that does not batch natively, whatever `batch` says.
            FakeLm plain;
            LoglikScorer one(plain, *m_tok, opt);
            QCOMPARE(one.questions_per_call(), 1);
            const auto r1 = one.score_many(qs, CancelToken());
            for (size_t q = 0; q < qs.size(); ++q)
                for (size_t i = 0; i < r1[q].size(); ++i) QVERIFY(std::fabs(r1[q][i].logprob - r[q][i].logprob) < 1e-9);
        }
        // A cancelled token stops a batched call before any forward.
        BatchingFakeLm lm;
        LoglikOptions opt;
        opt.batch = 4;
        LoglikScorer sc(lm, *m_tok, opt);
        CancelToken cancel;
        cancel.cancel();
        QVERIFY_THROWS_EXCEPTION(Cancelled, sc.score_many(qs, cancel));
        QCOMPARE(lm.fed, int64_t(0));
    }

    void greedyFlagFollowsTheArgmax() {
        FakeLm lm;
        LoglikScorer sc(lm, *m_tok);
        const auto ctx = m_tok->encode("Answer:");
        const auto row = fake_row(ctx);
        const int best = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
        const std::string best_text = m_tok->decode({best});
        const auto r = sc.score("Answer:", {best_text});
        if (m_tok->encode(best_text) == std::vector<int>{best}) QVERIFY(r[0].greedy);
        const auto r2 = sc.score("Answer:", {m_tok->decode({(best + 1) % kVocab})});
        QVERIFY(!r2[0].greedy || m_tok->encode(m_tok->decode({(best + 1) % kVocab})).size() != 1);
    }

    void trailingWhitespaceMovesToTheContinuation() {
        FakeLm lm;
        LoglikScorer sc(lm, *m_tok);
        const auto a = sc.score("Answer: ", {"B"});
        const auto b = sc.score("Answer:", {" B"});
        QCOMPARE(a[0].logprob, b[0].logprob);
        QCOMPARE(a[0].tokens, b[0].tokens);
    }

    void longInputsAreLeftTruncated() {
        FakeLm lm;
        lm.ctx = 8;
        LoglikScorer sc(lm, *m_tok);
        const std::string ctx = "In the beginning God created the heaven and the earth.";
        const auto r = sc.score(ctx, {" And", " The earth was"});
        for (const std::string c : {" And", " The earth was"}) {
            auto all = cat(m_tok->encode(ctx), m_tok->encode(c));
            QVERIFY(all.size() > 9);
            const auto k = m_tok->encode(c).size();
            all.erase(all.begin(), all.end() - 9);  // window + 1 tokens, as the harness keeps
            const double ref = brute(all, k);
            QVERIFY(std::fabs(r[c == " And" ? 0 : 1].logprob - ref) < 1e-4);
        }
        QCOMPARE(sc.stats().truncated, int64_t(2));
        // A continuation longer than the window cannot be scored.
        lm.ctx = 2;
        QVERIFY_THROWS_EXCEPTION(Error, sc.score(ctx, {" The earth was without form"}));
    }

    void engineReuseEqualsFullForwards() {
        auto model = io::Model::open(mixq_test::demo_model());
        auto tf = std::make_shared<engine::Transformer>(model);
        EngineModel lm(tf);
        // Brute force with the engine: one full forward of context+continuation, no cache.
        const std::string ctx = "Question: What did God create in the beginning?\nAnswer:";
        const std::vector<std::string> conts{" The heaven and the earth.", " Nothing at all."};
        LoglikScorer sc(lm, *m_tok);
        const auto r = sc.score(ctx, conts);
        for (size_t i = 0; i < conts.size(); ++i) {
            const auto c = m_tok->encode(ctx);
            const auto k = m_tok->encode(conts[i]);
            const auto all = cat(c, k);
            const auto lg = tf->forward(all);
            double ref = 0.0;
            for (size_t p = c.size(); p < all.size(); ++p)
                ref += token_logprob(lg.row(static_cast<int64_t>(p - 1)).data(), kVocab, all[p]);
            QVERIFY2(std::fabs(r[i].logprob - ref) < 1e-4, qPrintable(QString("%1 vs %2").arg(r[i].logprob).arg(ref)));
        }

        // Shared prefix vs full forwards on real MMLU and PIQA rows: same numbers, and the time each takes.
        const auto qs = load_mmlu(mixq_test::eval_data_dir() / "mmlu", 30);
        const auto items = load_piqa(mixq_test::eval_data_dir() / "piqa", 30);
        double secs[2] = {0, 0};
        std::vector<double> lp[2];
        int64_t fed[2];
        for (int reuse = 0; reuse < 2; ++reuse) {
            LoglikScorer s(lm, *m_tok, {reuse == 1, 0, -1});
            const auto t0 = std::chrono::steady_clock::now();
            for (const auto& q : qs)
                for (const auto& x : s.score(mmlu_prompt(q), {" A", " B", " C", " D"})) lp[reuse].push_back(x.logprob);
            for (const auto& it : items)
                for (const auto& x : s.score(piqa_context(it), {" " + it.sol1, " " + it.sol2})) lp[reuse].push_back(x.logprob);
            secs[reuse] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            fed[reuse] = s.stats().tokens_fed;
            QCOMPARE(s.stats().boundary_mismatches, int64_t(0));
        }
        double worst = 0.0;
        for (size_t i = 0; i < lp[0].size(); ++i) worst = std::max(worst, std::fabs(lp[0][i] - lp[1][i]));
        qInfo("30 MMLU + 30 PIQA items: full forwards %.2f s (%lld tokens), shared prefix %.2f s (%lld tokens); "
              "max |difference| %.2e",
              secs[0], (long long)fed[0], secs[1], (long long)fed[1], worst);
        QVERIFY(worst < 1e-3);
        QVERIFY(fed[1] * 2 < fed[0]);
    }
};

QTEST_APPLESS_MAIN(TestEvalLoglik)
#include "test_eval_loglik.moc"
