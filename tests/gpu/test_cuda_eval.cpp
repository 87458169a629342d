// SPDX-License-Identifier: MIT
// The evaluator on the CUDA decoder (gpu/cuda_language_model.h) against the CPU engine on the demo model: logits of
// whole sequences, sessions forked from a shared prompt and continued in interleaved order (prefix truncation and
// replay on the one KV cache) against fresh full-sequence logits, and run_evaluation with --device cuda giving the
// CPU run's MMLU/PIQA predictions and perplexity; an export's speed timed on the GPU as its plan on the source model
// beside the dense BF16 baseline; plus, with or without a GPU, the device resolution.
#include <QtTest>

#include <cmath>

#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/eval/evaluator.h"
#include "core/eval/speed_bench.h"
#include "core/export/exporter.h"
#include "core/plan/plan_weights.h"
#include "core/score/scorer.h"
#include "core/score/scoring_engine.h"
#include "gpu/cuda_backend.h"
#include "gpu/cuda_language_model.h"
#include "gpu/gpu_test_support.h"
#include "test_support.h"

using namespace mixq;
using nlohmann::json;

namespace {

double max_abs(const engine::RowMatrix& a, const engine::RowMatrix& b, int64_t rows_b0 = 0) {
    double m = 0;
    for (int64_t r = 0; r < a.rows(); ++r)
        for (int64_t c = 0; c < a.cols(); ++c)
            m = std::max(m, std::fabs(double(a(r, c)) - double(b(r + rows_b0, c))));
    return m;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

/// A registered CUDA backend without a device: select_backend's answers, not the device's.
class UnusableCuda : public backend::ComputeBackend {
public:
    std::string name() const override { return "cuda"; }
    std::vector<backend::Device> devices(std::string* why) const override {
        if (why) *why = "CUDA unavailable: no device";
        return {};
    }
    std::unique_ptr<score::ScoringEngine> scoring_engine(std::shared_ptr<const io::Model>, const score::CalibrationSet&,
                                                         const score::ScoreOptions&, const JobContext&) const override {
        fail("test", "no device");
    }
    std::unique_ptr<engine::LanguageModel> open_model(std::shared_ptr<const io::Model>,
                                                      const backend::LogFn&) const override {
        fail("test", "no device");
    }
    std::unique_ptr<eval::DecoderSession> speed_session(std::shared_ptr<const io::Model>, const plan::Plan*, int,
                                       const backend::LogFn&) const override {
        fail("test", "no device");
    }
};

class TestCudaEval : public QObject {
    Q_OBJECT

private slots:
    void deviceResolution() {  // runs without a GPU too: the dispatch, not the device
        const auto on = [](const std::string& device, std::string* note) {
            return backend::select_backend(device, "--device", note)->name();
        };
        backend::unregister_backend("cuda");
        QCOMPARE(on("cpu", nullptr), std::string("cpu"));
        std::string note = "x";
        QCOMPARE(on("auto", &note), std::string("cpu"));
        QCOMPARE(note, std::string("x"));  // a CPU-only build says nothing
        QCOMPARE(error_of([&] { on("cuda", nullptr); }),
                 std::string("--device cuda: this build has no CUDA backend (built without the CUDA toolkit)"));
        QVERIFY(error_of([&] { on("tpu", nullptr); }).find("auto, cpu or cuda") != std::string::npos);
        backend::register_backend(std::make_shared<UnusableCuda>());
        note.clear();
        QCOMPARE(on("auto", &note), std::string("cpu"));
        QCOMPARE(note, std::string("CUDA unavailable: no device"));
        QCOMPARE(error_of([&] { on("cuda", nullptr); }), std::string("--device cuda: CUDA unavailable: no device"));
        gpu::register_cuda_backend();
        std::string why;
        const bool usable = gpu::cuda_available(&why, false);
        QCOMPARE(on("auto", nullptr), std::string(usable ? "cuda" : "cpu"));
    }

    void logitsAndForkedSessionsMatchTheEngine() {
        MIXQ_REQUIRE_GPU();
        auto model = io::Model::open(mixq_test::demo_model());
        engine::Transformer tf(model);
        gpu::CudaDecoderOptions o = gpu::evaluation_decoder_options();
        o.log = [](const std::string&) {};
        gpu::CudaLanguageModel lm(model, o);
        QCOMPARE(lm.backend(), std::string("cuda-decoder"));
        QCOMPARE(lm.vocab_size(), model->config().vocab_size);

        const std::vector<int> prompt = {5, 17, 42, 99, 7, 250, 13, 64, 3, 88};
        const std::vector<int> a = {11, 12, 13}, b = {200, 201}, c = {9};
        auto full = [&](const std::vector<int>& tail) {
            std::vector<int> ids = prompt;
            ids.insert(ids.end(), tail.begin(), tail.end());
            return tf.forward(ids, nullptr);  // the CPU engine, no cache: every position's logits
        };
        const auto ref_p = tf.forward(prompt, nullptr);
        QVERIFY2(max_abs(lm.logits(prompt), ref_p) < 1e-3, "whole-sequence logits");

        auto s = lm.start(64);
        const auto lp = s->feed(prompt);
        QVERIFY(max_abs(lp, ref_p) < 1e-3);
        auto fa = s->fork(), fb = s->fork();
        const auto la = fa->feed(a);                   // cache: prompt + a
        const auto lb = fb->feed(b);                   // truncated to prompt, then + b
        auto fa2 = fa->fork();
        const auto la2 = fa2->feed(c);                 // prompt + a replayed, then + c
        const auto lc = s->feed(c);                    // the original session continues: prompt + c
        const auto ra = full(a), rb = full(b), rc = full(c);
        std::vector<int> ac = a;
        ac.insert(ac.end(), c.begin(), c.end());
        const auto rac = full(ac);
        const int64_t P = static_cast<int64_t>(prompt.size());
        QVERIFY2(max_abs(la, ra, P) < 1e-3, "fork a");
        QVERIFY2(max_abs(lb, rb, P) < 1e-3, "fork b");
        QVERIFY2(max_abs(la2, rac, P + 3) < 1e-3, "fork of fork");
        QVERIFY2(max_abs(lc, rc, P) < 1e-3, "original session after its forks");
        QCOMPARE(fa2->length(), int(P + 4));
        QVERIFY(error_of([&] { lm.start(lm.context_length() + 1); }).find("exceeds the KV cache") != std::string::npos);
    }

    void evaluationOnCudaMatchesCpu() {
        MIXQ_REQUIRE_GPU();
        gpu::register_cuda_backend();
        eval::EvalRequest req;
        req.target = mixq_test::demo_model();
        req.mmlu = mixq_test::eval_data_dir() / "mmlu";
        req.piqa = mixq_test::eval_data_dir() / "piqa";
        req.ppl_text = mixq_test::golden_dir() / "heldout.txt";
        req.limit = 12;
        req.ppl_window = 64;
        req.speed = true;
        req.speed_prompt = 32;
        req.speed_decode = 16;
        req.speed_runs = 1;
        req.device = "cpu";
        const json cpu = eval::run_evaluation(req);
        req.device = "cuda";
        const json gpu = eval::run_evaluation(req);
        QCOMPARE(gpu["target"]["backend"].get<std::string>(), std::string("cuda-decoder"));
        QVERIFY(gpu["target"]["device"].get<std::string>().rfind("cuda:0", 0) == 0);
        QCOMPARE(gpu["settings"]["device"].get<std::string>(), std::string("cuda"));
        QCOMPARE(cpu["target"]["backend"].get<std::string>(), std::string("engine"));
        const json &tc = cpu["tasks"], &tg = gpu["tasks"];
        QCOMPARE(tg["mmlu"]["target"]["correct"], tc["mmlu"]["target"]["correct"]);
        QCOMPARE(tg["piqa"]["target"]["acc"], tc["piqa"]["target"]["acc"]);
        QCOMPARE(tg["piqa"]["target"]["acc_norm"], tc["piqa"]["target"]["acc_norm"]);
        const double pc = tc["ppl"]["target"]["ppl"].get<double>(), pg = tg["ppl"]["target"]["ppl"].get<double>();
        QVERIFY2(std::fabs(pg / pc - 1.0) < 1e-4, qPrintable(QString("ppl cpu %1 cuda %2").arg(pc).arg(pg)));
        QVERIFY(tg["speed"]["target"]["device"].get<std::string>().rfind("cuda:0", 0) == 0);
        QVERIFY(tg["speed"]["target"]["decode_tokens_per_s"].get<double>() > 0);
        QVERIFY(tg["speed"]["target"]["weights"].get<std::string>().find("dense BF16") != std::string::npos);
        qInfo("demo model, 12 MMLU + 12 PIQA + ppl: cuda decode %.0f tok/s vs cpu %.0f tok/s; ppl %.5f vs %.5f",
              tg["speed"]["target"]["decode_tokens_per_s"].get<double>(),
              tc["speed"]["target"]["decode_tokens_per_s"].get<double>(), pg, pc);
    }

    void exportSpeedRunsThePlanOnTheGpu() {
        MIXQ_REQUIRE_GPU();
        gpu::register_cuda_backend();
        auto model = io::Model::open(mixq_test::demo_model());
        const auto p = plan::make_model_plan(*model, [](const io::QuantUnit& u) {
            return quant::QuantFormat::parse(u.kind == io::UnitKind::Down ? "int8-g32" : "int4-g32");
        });
        const auto dir = mixq_test::scratch("cuda_eval_export") / "demo-int4";
        exporter::export_onnx(*model, p, dir);
        eval::EvalRequest req;
        req.target = dir;
        req.mmlu = mixq_test::eval_data_dir() / "mmlu";
        req.limit = 6;
        req.speed = true;
        req.speed_prompt = 32;
        req.speed_decode = 16;
        req.speed_runs = 1;
        req.device = "cuda";
        const json rep = eval::run_evaluation(req);
        QCOMPARE(rep["target"]["backend"].get<std::string>(), std::string("onnx-runner"));  // accuracy: the file
        QCOMPARE(rep["baseline"]["backend"].get<std::string>(), std::string("cuda-decoder"));
        const json& sp = rep["tasks"]["speed"];
        for (const char* who : {"target", "baseline"})
            QVERIFY2(sp[who]["device"].get<std::string>().rfind("cuda:0", 0) == 0, sp.dump().c_str());
        QVERIFY(sp["target"]["weights"].get<std::string>().find("plan") != std::string::npos);
        // the plan's int4/int8 weights read fewer bytes per token than the dense BF16 baseline
        QVERIFY(sp["target"]["weight_bytes_per_token"].get<double>() < sp["baseline"]["weight_bytes_per_token"].get<double>());
        // accuracy of the export is still the ONNX runner's: the same as a CPU run
        req.device = "cpu";
        req.speed = false;
        const json cpu = eval::run_evaluation(req);
        QCOMPARE(rep["tasks"]["mmlu"]["target"]["correct"], cpu["tasks"]["mmlu"]["target"]["correct"]);
        QCOMPARE(rep["tasks"]["mmlu"]["baseline"]["correct"], cpu["tasks"]["mmlu"]["baseline"]["correct"]);
        qInfo("export speed on the GPU: plan %.0f tok/s vs dense BF16 %.0f tok/s",
              sp["target"]["decode_tokens_per_s"].get<double>(), sp["baseline"]["decode_tokens_per_s"].get<double>());
    }
};

QTEST_GUILESS_MAIN(TestCudaEval)
#include "test_cuda_eval.moc"
