// SPDX-License-Identifier: MIT
// `mixq eval`'s job end to end on the demo model: an int4 export evaluated by the ONNX runner on a few real MMLU
// / PIQA rows, perplexity windows and a short speed run, with the unquantized source model (found through
// mixq_plan.json) as baseline. The report's numbers are checked against the same tasks computed here directly
// with the CPU engine (plan weights for the target, file weights for the baseline); plus report saving, cancel,
// and the one-line errors of bad requests.
#include <QtTest>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/eval/engine_model.h"
#include "core/eval/eval_report.h"
#include "core/eval/evaluator.h"
#include "core/eval/ort_speed.h"
#include "core/io/synthetic_model.h"
#include "core/export/exporter.h"
#include "core/plan/plan_weights.h"
#include "core/tokenizer/tokenizer.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::eval;
namespace fs = std::filesystem;
using mixq_test::error_of;
using nlohmann::json;

namespace {

struct Direct {
    MmluResult mmlu;
    PiqaResult piqa;
    PerplexityResult ppl;
};

/// The tasks computed straight with the engine (no evaluator), for the report to agree with.
Direct direct(const std::shared_ptr<io::Model>& model, const plan::Plan* plan, int limit) {
    auto tf = std::make_shared<engine::Transformer>(model);
    if (plan) plan::apply_plan_fake_quant(*tf, *model, *plan);
    EngineModel lm(tf);
    auto tok = tok::Tokenizer::from_file(model->tokenizer_path());
    LoglikScorer sc(lm, *tok);
    const auto data = mixq_test::eval_data_dir();
    Direct d;
    d.mmlu = run_mmlu(sc, load_mmlu(data / "mmlu", limit));
    d.piqa = run_piqa(sc, load_piqa(data / "piqa", limit));
    const auto stream = tok->encode(mixq_test::read_text(mixq_test::golden_dir() / "heldout.txt"));
    d.ppl = windowed_perplexity([&](const std::vector<int>& ids) { return tf->forward(ids); }, stream, 64, limit * 64 + 1);
    return d;
}

}  // namespace

class TestEvalPipeline : public QObject {
    Q_OBJECT

    fs::path m_work, m_export;
    std::shared_ptr<io::Model> m_demo;
    plan::Plan m_plan;

    EvalRequest request(const fs::path& target) const {
        EvalRequest r;
        r.target = target;
        r.mmlu = mixq_test::eval_data_dir() / "mmlu";
        r.piqa = mixq_test::eval_data_dir() / "piqa";
        r.ppl_text = mixq_test::golden_dir() / "heldout.txt";
        r.limit = 6;
        r.ppl_window = 64;
        return r;
    }

private slots:
    void initTestCase() {
        m_work = mixq_test::scratch("eval_pipeline");
        m_demo = io::Model::open(mixq_test::demo_model());
        m_plan = plan::make_model_plan(*m_demo, [](const io::QuantUnit& u) {
            return quant::QuantFormat::parse(u.kind == io::UnitKind::Down ? "int8-g32" : "int4-g32");
        });
        m_export = m_work / "demo-int4";
        exporter::ExportOptions level0;  // fp32 activations: the runner then equals the engine's plan to 1e-5
        level0.accuracy_level = 0;
        exporter::export_onnx(*m_demo, m_plan, m_export, level0);
    }

    void exportAgainstBaseline() {
        EvalRequest req = request(m_export);
        req.speed = true;
        req.speed_prompt = 32;
        req.speed_decode = 16;
        req.speed_runs = 1;
        std::vector<double> fractions;
        JobContext job(CancelToken(), [&](const Progress& p) { fractions.push_back(p.fraction); });
        const json rep = run_evaluation(req, job);

        QCOMPARE(rep["schema"].get<std::string>(), std::string("mixq.eval/1"));
        QCOMPARE(rep["target"]["kind"].get<std::string>(), std::string("export"));
        QCOMPARE(rep["target"]["backend"].get<std::string>(), std::string("onnx-runner"));
        QVERIFY(std::fabs(rep["target"]["plan"]["average_bits"].get<double>() - m_plan.avg_bits) < 1e-9);
        QVERIFY(rep["target"]["plan"]["onnx_file_bytes"].get<uint64_t>() > 100000);
        QVERIFY(rep["baseline"].is_object());
        QCOMPARE(rep["baseline"]["from"].get<std::string>(), std::string("mixq_plan.json"));
        QCOMPARE(rep["baseline"]["matches_plan_hash"].get<bool>(), true);
        QCOMPARE(fs::canonical(rep["baseline"]["path"].get<std::string>()), fs::canonical(mixq_test::demo_model()));

        const Direct target = direct(m_demo, &m_plan, 6), base = direct(m_demo, nullptr, 6);
        const json& t = rep["tasks"];
        QCOMPARE(t["mmlu"]["target"]["n"].get<int64_t>(), int64_t(6));
        QCOMPARE(t["mmlu"]["target"]["correct"].get<int64_t>(), target.mmlu.overall.correct);
        QCOMPARE(t["mmlu"]["baseline"]["correct"].get<int64_t>(), base.mmlu.overall.correct);
        QCOMPARE(t["mmlu"]["delta"]["acc"].get<double>(), target.mmlu.overall.acc() - base.mmlu.overall.acc());
        QCOMPARE(t["mmlu"]["delta"]["agreement"].get<double>(), agreement(target.mmlu.predictions, base.mmlu.predictions));
        QCOMPARE(t["piqa"]["target"]["n"].get<int64_t>(), int64_t(6));
        QCOMPARE(t["piqa"]["target"]["acc"].get<double>(), target.piqa.acc.acc());
        QCOMPARE(t["piqa"]["target"]["acc_norm"].get<double>(), target.piqa.acc_norm.acc());
        QCOMPARE(t["piqa"]["baseline"]["acc_norm"].get<double>(), base.piqa.acc_norm.acc());
        QCOMPARE(t["ppl"]["target"]["windows"].get<int>(), 6);
        QVERIFY(std::fabs(t["ppl"]["target"]["ppl"].get<double>() / target.ppl.ppl - 1.0) < 1e-5);
        QVERIFY(std::fabs(t["ppl"]["baseline"]["ppl"].get<double>() / base.ppl.ppl - 1.0) < 1e-9);
        QVERIFY(std::fabs(t["ppl"]["delta"]["ppl"].get<double>() - (target.ppl.ppl - base.ppl.ppl)) < 1e-3);
        // The int4 plan must move perplexity (or the comparison above could not tell the two models apart).
        QVERIFY(std::fabs(target.ppl.ppl - base.ppl.ppl) > 1e-3);
        // Measured KLD: the same 6 windows of 64 through the file weights and the plan applied in the engine, with
        // KL(p_base || p_plan) written here in double precision (the runner at accuracy_level 0 equals the engine).
        {
            auto tb = std::make_shared<engine::Transformer>(m_demo), tq = std::make_shared<engine::Transformer>(m_demo);
            plan::apply_plan_fake_quant(*tq, *m_demo, m_plan);
            const auto stream = tok::Tokenizer::from_file(m_demo->tokenizer_path())
                                    ->encode(mixq_test::read_text(mixq_test::golden_dir() / "heldout.txt"));
            double kl_sum = 0.0;
            int n = 0, agree = 0;
            for (int w = 0; w < 6; ++w) {
                const std::vector<int> ids(stream.begin() + w * 64, stream.begin() + w * 64 + 64);
                const engine::RowMatrix P = tb->forward(ids), Q = tq->forward(ids);
                for (int r = 0; r < 64; ++r) {
                    const Eigen::VectorXd p = P.row(r).cast<double>().transpose(), q = Q.row(r).cast<double>().transpose();
                    const double lp = p.maxCoeff() + std::log((p.array() - p.maxCoeff()).exp().sum());
                    const double lq = q.maxCoeff() + std::log((q.array() - q.maxCoeff()).exp().sum());
                    kl_sum += ((p.array() - lp).exp() * ((p.array() - lp) - (q.array() - lq))).sum();
                    Eigen::Index ip, iq;
                    p.maxCoeff(&ip);
                    q.maxCoeff(&iq);
                    agree += ip == iq;
                    ++n;
                }
            }
            const json& k = rep["measured_kld"];
            QCOMPARE(k["tokens"].get<int64_t>(), int64_t(n));
            QVERIFY2(std::fabs(k["mean"].get<double>() / (kl_sum / n) - 1.0) < 1e-3,
                     (std::to_string(k["mean"].get<double>()) + " vs " + std::to_string(kl_sum / n)).c_str());
            QVERIFY(k["mean"].get<double>() > 1e-4);  // an int4 plan is measurably different
            QCOMPARE(k["top1_agreement"].get<double>(), static_cast<double>(agree) / n);
        }
        for (const char* who : {"target", "baseline"}) {
            const json& s = t["speed"][who];
            QVERIFY(s["prefill_tokens_per_s"].get<double>() > 0 && s["decode_tokens_per_s"].get<double>() > 0);
            QCOMPARE(s["prompt_tokens"].get<int>(), 32);
            QCOMPARE(s["device"].get<std::string>(), std::string("cpu"));
            QVERIFY(s["peak_rss_mb"].get<double>() > 0);
        }
        QVERIFY(t["speed"]["delta"]["decode_ratio"].get<double>() > 0);
        // Like with like: the baseline's speed is a 16-bit export of the source timed in the export's runtime.
        QCOMPARE(t["speed"]["baseline"]["runtime"].get<std::string>(), t["speed"]["target"]["runtime"].get<std::string>());
        QVERIFY(t["speed"]["baseline"]["timed_file"].get<std::string>().find("16-bit export") != std::string::npos);
        QVERIFY(t["speed"]["baseline"]["weight_bytes_per_token"].get<double>() >
                2.0 * t["speed"]["target"]["weight_bytes_per_token"].get<double>());
        QVERIFY(rep["loglik"]["target"]["requests"].get<int64_t>() == 6 * 4 + 6 * 2);
        // Progress: monotone, over the whole job, ending at 1.
        QVERIFY(!fractions.empty());
        for (size_t i = 1; i < fractions.size(); ++i) QVERIFY(fractions[i] + 1e-12 >= fractions[i - 1]);
        QCOMPARE(fractions.back(), 1.0);

        // Saved atomically: the file parses back, nothing else is left in the folder.
        const fs::path out_dir = m_work / "out";
        fs::create_directories(out_dir);
        save_eval_report(rep, out_dir / "results.json");
        QCOMPARE(json::parse(mixq_test::read_text(out_dir / "results.json")), rep);
        QCOMPARE(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), std::ptrdiff_t(1));
        const std::string table = format_eval_table(rep);
        QVERIFY2(table.find("mmlu   acc") != std::string::npos && table.find("decode_tokens_per_s") != std::string::npos &&
                     table.find("measured KLD") != std::string::npos,
                 table.c_str());
    }

    void planOnItsModelAgainstTheDenseModel() {
        // `mixq eval MODEL --plan` / the app's "Evaluate current plan": the plan's fake-quant engine beside the dense
        // model, on the same questions, both on the CPU engine; no speed row (fake-quant runs at the dense speed).
        EvalRequest req = request(mixq_test::demo_model());
        req.ppl_text.reset();
        req.limit = 4;
        req.speed = true;
        req.plan = m_plan;
        const json rep = run_evaluation(req);
        QCOMPARE(rep["target"]["kind"].get<std::string>(), std::string("plan"));
        QCOMPARE(rep["target"]["plan"]["scores_mode"].get<std::string>(), std::string("exact"));
        QCOMPARE(rep["baseline"]["from"].get<std::string>(), std::string("the plan's model"));
        QVERIFY(!rep["tasks"].contains("speed"));
        const Direct target = direct(m_demo, &m_plan, 4), base = direct(m_demo, nullptr, 4);
        const json& t = rep["tasks"];
        for (const char* side : {"target", "baseline"}) {
            QCOMPARE(t["mmlu"][side]["n"].get<int64_t>(), int64_t(4));
            QCOMPARE(t["piqa"][side]["n"].get<int64_t>(), int64_t(4));
        }
        QCOMPARE(t["mmlu"]["target"]["correct"].get<int64_t>(), target.mmlu.overall.correct);
        QCOMPARE(t["mmlu"]["baseline"]["correct"].get<int64_t>(), base.mmlu.overall.correct);
        QCOMPARE(t["piqa"]["target"]["acc_norm"].get<double>(), target.piqa.acc_norm.acc());
        QCOMPARE(t["piqa"]["baseline"]["acc_norm"].get<double>(), base.piqa.acc_norm.acc());
        // A plan for another model is refused in one line; so is a plan with an export folder.
        plan::Plan other = m_plan;
        other.model_hash = "0000000000000000";
        req.plan = other;
        QVERIFY(error_of([&] { run_evaluation(req); }).find("plan") != std::string::npos);
        req.target = m_export;
        req.plan = m_plan;
        QVERIFY(error_of([&] { run_evaluation(req); }).find("--plan needs a model folder") != std::string::npos);
    }

    void modelFolderHasNoBaselineByDefault() {
        EvalRequest req = request(mixq_test::demo_model());
        req.piqa.reset();
        req.ppl_text.reset();
        req.limit = 3;
        const json rep = run_evaluation(req);
        QCOMPARE(rep["target"]["backend"].get<std::string>(), std::string("engine"));
        QVERIFY(rep["baseline"].is_null());
        QVERIFY(rep["tasks"]["mmlu"]["delta"].is_null());
        QVERIFY(rep["baseline_note"].get<std::string>().find("--baseline") != std::string::npos);
        QCOMPARE(rep["tasks"]["mmlu"]["target"]["n"].get<int64_t>(), int64_t(3));
    }

    void cancelStopsTheJob() {
        CancelToken token;
        token.cancel();
        JobContext job(token, [](const Progress&) {});
        QVERIFY_THROWS_EXCEPTION(Cancelled, run_evaluation(request(m_export), job));
    }

    void badRequestsGiveOneLineErrors() {
        const fs::path empty = m_work / "empty";
        fs::create_directories(empty);
        QCOMPARE(error_of([&] { run_evaluation(request(empty)); }),
                 empty.string() + ": neither an export folder (model.onnx + genai_config.json) nor a model folder (config.json)");
        EvalRequest cuda = request(m_export);
        cuda.device = "cuda";
        // core tests install no accelerator backend: --device cuda is refused in one line, auto runs on the CPU
        QCOMPARE(error_of([&] { run_evaluation(cuda); }),
                 std::string("--device cuda: this build has no CUDA backend (built without the CUDA toolkit)"));
        EvalRequest none;
        none.target = m_export;
        QVERIFY(error_of([&] { run_evaluation(none); }).find("nothing to evaluate") != std::string::npos);
        EvalRequest bad = request(m_export);
        bad.piqa = fs::path(MIXQ_TEST_DATA_DIR) / "eval" / "bad" / "piqa_count";
        QVERIFY(error_of([&] { run_evaluation(bad); }).find("2 labels for 3 items") != std::string::npos);
        EvalRequest wrong_base = request(m_export);
        wrong_base.baseline = m_export;
        QVERIFY(error_of([&] { run_evaluation(wrong_base); }).find("--baseline must be a model folder") != std::string::npos);
    }

    void exportSpeedIsMeasuredInOnnxRuntime() {
        // An export's tokens/s come from ONNX Runtime itself when it is installed (tests/ort, as test_export_ort
        // installs it), labelled with the runtime; the built-in runner's figure stays beside it, labelled as the
        // stand-in, with its same-run ratio to ORT (a generated model, int4-g32 at the default accuracy_level 4).
        std::string why;
        if (!find_ort_harness(&why)) {
            qWarning("MIXQ-SKIP: %s", why.c_str());
            QSKIP("MIXQ-SKIP: ONNX Runtime not installed in tests/ort");
        }
        io::SyntheticSpec spec = io::SyntheticSpec::preset("tiny");
        spec.config.hidden_size = 512;
        spec.config.intermediate_size = 1536;
        spec.config.num_layers = 4;
        spec.config.num_heads = 8;
        spec.config.num_kv_heads = 4;
        spec.config.head_dim = 64;
        spec.config.vocab_size = 8192;
        io::write_synthetic_model(m_work / "speed_model", spec);
        auto model = io::Model::open(m_work / "speed_model");
        const auto p = plan::make_model_plan(*model, [](const io::QuantUnit&) { return quant::QuantFormat::parse("int4-g32"); });
        exporter::export_onnx(*model, p, m_work / "speed_export");
        EvalRequest req;
        req.target = m_work / "speed_export";
        req.speed = true;
        req.no_baseline = true;
        req.device = "cpu";
        req.speed_prompt = 64;
        req.speed_decode = 32;
        req.speed_runs = 3;
        const json rep = run_evaluation(req);
        const json& s = rep["tasks"]["speed"]["target"];
        QCOMPARE(s["runtime"].get<std::string>(), std::string("ONNX Runtime 1.30.0, CPU, 1 thread"));
        const json& runner = s["builtin_runner"];
        QVERIFY(runner["runtime"].get<std::string>().rfind("MixQ built-in ONNX runner", 0) == 0);
        const double ort = s["decode_tokens_per_s"].get<double>(), mine = runner["decode_tokens_per_s"].get<double>();
        const double ratio = runner["decode_ratio_to_onnx_runtime"].get<double>();
        qInfo("decode tok/s: ONNX Runtime %.1f, built-in runner %.1f (ratio %.2f); prefill: ORT %.0f, runner %.0f", ort,
              mine, ratio, s["prefill_tokens_per_s"].get<double>(), runner["prefill_tokens_per_s"].get<double>());
        QVERIFY(ort > 0 && mine > 0);
        QVERIFY(std::fabs(ratio - mine / ort) < 1e-9);
        // Not asserted: the runner at ORT's decode speed. Its int8 VNNI kernel reaches 1.4x ORT for int8-g128 but
        // 0.55-0.61x for int4 on the 100M model (docs/PERFORMANCE.md), and a loaded CI machine moves either figure
        // by 2x; the row the user sees is ORT's own figure, labelled, whenever ORT is installed.
        QVERIFY(s["decode_fraction_of_bound"].get<double>() > 0);
    }
};

QTEST_APPLESS_MAIN(TestEvalPipeline)
#include "test_eval_pipeline.moc"
