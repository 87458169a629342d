// SPDX-License-Identifier: MIT
// run_evaluation: data loading (errors before any model work), per-model task runs with one progress scale and
// ETA over all of them, plan summary from mixq_plan.json, baseline resolution and the report.
#include "core/eval/evaluator.h"

#include "core/eval/ort_speed.h"

#include <omp.h>

#include <chrono>
#include <fstream>
#include <limits>

#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/eval/baseline_export.h"
#include "core/eval/engine_model.h"
#include "core/eval/eval_report.h"
#include "core/eval/measured_kld.h"
#include "core/eval/onnx/onnx_model.h"
#include "core/common/text_file.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::eval {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// Resets the process's peak-RSS mark (VmHWM) so the next peak_rss_bytes() covers only what follows.
bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    return static_cast<bool>(f);
}

/// mixq_plan.json (written by `mixq export`) as a summary; null when absent. Unknown fields are ignored.
json plan_summary(const fs::path& export_dir) {
    const fs::path p = export_dir / "mixq_plan.json";
    if (!fs::exists(p)) return nullptr;
    json j;
    try {
        j = json::parse(read_text_file(p));
    } catch (const std::exception& e) {
        fail(p.string(), std::string("malformed JSON (") + e.what() + ")");
    }
    json s = json::object();
    for (const char* k : {"schema", "source", "preset", "target_bits", "average_bits", "total_bits", "planned_weights",
                          "estimated_file_bytes", "counts", "predicted_kld"})
        if (j.contains(k)) s[k] = j[k];
    if (j.contains("model") && j["model"].is_object()) {
        if (j["model"].contains("path")) s["model_path"] = j["model"]["path"];
        if (j["model"].contains("hash")) s["model_hash"] = j["model"]["hash"];
    }
    uint64_t bytes = 0;
    for (const auto& e : fs::directory_iterator(export_dir)) {
        const auto name = e.path().filename().string();
        if (e.is_regular_file() && name.rfind("model.onnx", 0) == 0) bytes += e.file_size();
    }
    s["onnx_file_bytes"] = bytes;
    return s;
}

struct Data {
    std::vector<MmluQuestion> mmlu;
    std::vector<PiqaItem> piqa;
    std::string ppl_text;
};

struct ModelRun {
    json tasks = json::object();
    json loglik;
    std::vector<int> mmlu_pred, piqa_pred, piqa_pred_norm;
    std::string backend, device;  ///< "engine" / "onnx-runner" / "cuda-decoder"; "cpu" or e.g. "cuda:0 (NVIDIA H200)"
};

class ProgressScale {
public:
    ProgressScale(const JobContext& job, double total) : m_job(job), m_total(std::max(total, 1e-9)) {}
    /// A context reporting stage progress on the overall scale; the stage covers `weight` of the total.
    JobContext stage(double weight) {
        const double a = m_done / m_total, b = (m_done + weight) / m_total;
        m_done += weight;
        const JobContext* parent = &m_job;
        return JobContext(
            m_job.token(),
            [parent, a, b](const mixq::Progress& p) { parent->report(a + (b - a) * p.fraction, p.stage, p.item); },
            [parent](const std::string& line) { parent->log(line); });
    }

private:
    const JobContext& m_job;
    double m_total;
    double m_done = 0.0;
};

/// Rough relative cost of a task (about one unit per MMLU question, as measured on the demo model), for the ETA.
double stage_weight(const std::string& task, const Data& d, const EvalRequest& req) {
    if (task == "mmlu") return static_cast<double>(d.mmlu.size());
    if (task == "piqa") return static_cast<double>(d.piqa.size());
    if (task == "ppl") {
        double tokens = static_cast<double>(d.ppl_text.size()) / 3.0;
        tokens = std::min(tokens, req.limit_for(req.ppl_limit) >= 0
                                      ? static_cast<double>(req.limit_for(req.ppl_limit) * req.ppl_window)
                                      : static_cast<double>(kDefaultPplMaxTokens));
        return tokens / 140.0;
    }
    if (task == "kld") return 2.0 * stage_weight("ppl", d, req);
    if (task == "speed") return (req.speed_runs + 1) * (req.speed_prompt + 8.0 * req.speed_decode) / 300.0;
    return 0.0;
}

/// Where one model runs: `backend` = where model folders run (the CPU or an accelerator). (An export's baseline
/// is timed as a 16-bit export in the export's runtime: baseline_export.h.)
struct Placement {
    std::shared_ptr<const backend::ComputeBackend> backend;
    /// Speed task on the accelerator's deployment decoder (BF16 activations): a model folder dense, an export as
    /// its plan (speed_plan) applied to its source model (speed_source).
    bool speed_on_accelerator = false;
    const plan::Plan* speed_plan = nullptr;
    std::optional<fs::path> speed_source;
};

/// What ran a speed measurement, for the label beside every tokens/s figure.
std::string speed_runtime_label(const std::string& kind, bool on_accelerator, const DecoderSession& s) {
    const std::string threads = std::to_string(s.threads()) + (s.threads() == 1 ? " thread" : " threads");
    if (on_accelerator) return "MixQ CUDA decoder on " + s.device();
    if (kind == "export") return "MixQ built-in ONNX runner (stand-in for ONNX Runtime), CPU, " + threads;
    return s.device() == "cpu" ? "MixQ CPU engine (fp32), " + threads : "MixQ engine on " + s.device();
}

/// An export's speed in ONNX Runtime itself when it is installed (ort_speed.h): its figures become the row's, the
/// built-in runner's stay under "builtin_runner" with the ratio; otherwise the runner's row says why it stands in.
void time_in_onnx_runtime(json& speed, const fs::path& dir, const EvalRequest& req, const JobContext& job) {
    std::string why;
    const auto h = find_ort_harness(&why);
    if (!h) {
        speed["runtime"] = speed["runtime"].get<std::string>() + " (" + why + ")";
        return;
    }
    job.log("timing " + (dir / "model.onnx").string() + " in ONNX Runtime " + h->version);
    const OrtSpeed o = ort_speed(*h, dir / "model.onnx", speed.value("threads", 1), req.speed_prompt, req.speed_decode,
                                 req.speed_runs, job);
    json runner = speed;
    speed["runtime"] = o.runtime;
    speed["prefill_tokens_per_s"] = o.prefill_tokens_per_s;
    speed["decode_tokens_per_s"] = o.decode_tokens_per_s;
    const double bound = speed.value("decode_bound_tokens_per_s", 0.0);
    speed["decode_fraction_of_bound"] = bound > 0 ? o.decode_tokens_per_s / bound : 0.0;
    speed["session_load_s"] = o.load_s;
    runner["decode_ratio_to_onnx_runtime"] = o.decode_tokens_per_s > 0 ? runner.value("decode_tokens_per_s", 0.0) / o.decode_tokens_per_s : 0.0;
    runner["prefill_ratio_to_onnx_runtime"] = o.prefill_tokens_per_s > 0 ? runner.value("prefill_tokens_per_s", 0.0) / o.prefill_tokens_per_s : 0.0;
    speed["builtin_runner"] = runner;
}

/// A loaded model: an export on the ONNX runner, a model folder on the CPU engine or the accelerator.
struct OpenedModel {
    std::unique_ptr<engine::LanguageModel> lm;
    std::shared_ptr<const io::Model> model;  ///< model folders only
    int eos = -1;
};

OpenedModel open_model(const fs::path& dir, const std::string& kind, const backend::ComputeBackend& where,
                       const JobContext& job, const plan::Plan* plan = nullptr) {
    const bool accel = where.name() != "cpu" && kind == "model";
    job.log("loading " + dir.string() +
            (kind == "export" ? " (ONNX runner)" : accel ? " (" + where.device_name() + ")" : " (CPU engine)"));
    OpenedModel o;
    if (kind == "export") {
        auto onnx_lm = std::make_unique<onnx::OnnxModel>(dir);
        o.eos = onnx_lm->config().eos_token_id;
        o.lm = std::move(onnx_lm);
    } else {
        o.model = io::Model::open(dir);
        if (!o.model->config().eos_token_ids.empty()) o.eos = o.model->config().eos_token_ids[0];
        if (plan) {  // the plan's fake-quant weights on the CPU engine (16-bit units in place)
            auto tf = std::make_shared<engine::Transformer>(plan::plan_engine(o.model, *plan));
            plan::apply_plan_fake_quant(*tf, *o.model, *plan);
            o.lm = std::make_unique<EngineModel>(tf);
        } else {
            o.lm = where.open_model(o.model, [&job](const std::string& line) { job.log(line); });
        }
    }
    return o;
}

/// The target against its baseline over the perplexity text: measured KLD and top-1 agreement, beside the plan's
/// predicted KLD (ratio measured / predicted; the app flags a ratio above 1.5).
json measured_kld_json(const fs::path& target, const std::string& kind, const fs::path& baseline,
                       const backend::ComputeBackend& where, const std::string& text, const EvalRequest& req,
                       const json& plan, const JobContext& job) {
    const OpenedModel t = open_model(target, kind, where, job, req.plan ? &*req.plan : nullptr);
    const OpenedModel b = open_model(baseline, "model", where, job);
    const auto stream = tok::Tokenizer::from_file(target / "tokenizer.json")->encode(text);
    if (tok::Tokenizer::from_file(baseline / "tokenizer.json")->encode(text) != stream)
        fail((baseline / "tokenizer.json").string(), "tokenizes the perplexity text differently from the target's "
                                                     "tokenizer; a measured KLD needs one token stream");
    const int64_t ppl_limit = req.limit_for(req.ppl_limit);
    const int64_t max_tokens = ppl_limit >= 0 ? ppl_limit * req.ppl_window + 1 : std::numeric_limits<int64_t>::max();
    const auto t0 = std::chrono::steady_clock::now();
    const MeasuredKld m = measured_kld([&](const std::vector<int>& ids) { return b.lm->logits(ids); },
                                       [&](const std::vector<int>& ids) { return t.lm->logits(ids); }, stream,
                                       req.ppl_window, max_tokens, job);
    json j = {{"mean", m.mean},
              {"max", m.max},
              {"top1_agreement", m.top1_agreement},
              {"tokens", m.tokens},
              {"windows", m.windows},
              {"text", req.ppl_text ? json(req.ppl_text->string()) : json(nullptr)},
              {"definition", "mean over positions of KL(p_baseline || p_target) in nats, perplexity windows"},
              {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    const bool known = plan.is_object() && plan.contains("predicted_kld") && plan["predicted_kld"].is_number();
    j["predicted"] = known ? plan["predicted_kld"] : json(nullptr);
    j["ratio_to_predicted"] = known && plan["predicted_kld"].get<double>() > 0
                                  ? json(m.mean / plan["predicted_kld"].get<double>()) : json(nullptr);
    return j;
}

ModelRun evaluate_model(const fs::path& dir, const std::string& kind, const Data& data, const EvalRequest& req,
                        const std::vector<std::string>& tasks, ProgressScale& progress, const JobContext& job,
                        const Placement& where, const plan::Plan* plan = nullptr) {
    const bool accel = where.backend->name() != "cpu" && kind == "model" && !plan;
    const std::string accel_device = accel ? where.backend->device_name() : std::string();
    OpenedModel opened = open_model(dir, kind, *where.backend, job, plan);
    std::unique_ptr<engine::LanguageModel>& lm = opened.lm;
    const std::shared_ptr<const io::Model>& model = opened.model;
    const int eos = opened.eos;
    const auto tok = tok::Tokenizer::from_file(dir / "tokenizer.json");
    LoglikOptions lopt{req.reuse_prefix, 0, eos, dir.string()};
    lopt.batch = req.batch;
    lopt.max_batch_tokens = req.batch_tokens;
    LoglikScorer scorer(*lm, *tok, lopt);
    ModelRun run;
    for (const auto& task : tasks) {
        JobContext sub = progress.stage(stage_weight(task, data, req));
        if (task == "mmlu") {
            const auto r = run_mmlu(scorer, data.mmlu, sub);
            run.tasks["mmlu"] = mmlu_json(r);
            run.mmlu_pred = r.predictions;
        } else if (task == "piqa") {
            const auto r = run_piqa(scorer, data.piqa, sub);
            run.tasks["piqa"] = piqa_json(r);
            run.piqa_pred = r.predictions;
            run.piqa_pred_norm = r.predictions_norm;
        } else if (task == "ppl") {
            const auto t0 = std::chrono::steady_clock::now();
            const auto stream = tok->encode(data.ppl_text);
            tok::check_ids_in_model_vocab(*tok, stream, lm->vocab_size(), (dir / "tokenizer.json").string());
            const int64_t ppl_limit = req.limit_for(req.ppl_limit);
            // The cap of `mixq ppl` unless --ppl-limit / --limit says otherwise: never an unbounded run.
            const int64_t max_tokens = ppl_limit >= 0 ? ppl_limit * req.ppl_window + 1 : kDefaultPplMaxTokens;
            const auto r = windowed_perplexity([&](const std::vector<int>& ids) { return lm->logits(ids); }, stream,
                                               req.ppl_window, max_tokens, sub, dir.string());
            run.tasks["ppl"] = ppl_json(r, req.ppl_window,
                                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } else if (task == "speed") {
            const int capacity = req.speed_prompt + req.speed_decode + 1;
            std::unique_ptr<DecoderSession> s;
            bool reset_ok = false;  // VmHWM reset before the timed decoder is built (accelerator: its upload counts)
            if (where.speed_on_accelerator) {
                const auto timed_model = kind == "export" ? io::Model::open(*where.speed_source) : model;
                reset_ok = reset_peak_rss();
                s = where.backend->speed_session(timed_model, kind == "export" ? where.speed_plan : nullptr, capacity,
                                                 [&job](const std::string& line) { job.log(line); });
            } else {
                s = std::make_unique<LanguageModelSession>(*lm, capacity, accel ? accel_device : "cpu",
                                                           accel ? 1 : omp_get_max_threads());
                reset_ok = reset_peak_rss();
            }
            const auto r = run_speed_bench(*s, req.speed_prompt, req.speed_decode, req.speed_runs, lm->vocab_size(), sub);
            run.tasks["speed"] = speed_json(r);
            run.tasks["speed"]["runtime"] = speed_runtime_label(kind, where.speed_on_accelerator, *s);
            if (kind == "export" && !where.speed_on_accelerator) time_in_onnx_runtime(run.tasks["speed"], dir, req, job);
            if (where.speed_on_accelerator)
                run.tasks["speed"]["weights"] = kind == "export"
                                                    ? "the export's plan (mixq_plan.json) applied to the source model " +
                                                          where.speed_source->string() + ", BF16 activations"
                                                    : std::string("dense BF16, BF16 activations");
            run.tasks["speed"]["peak_rss_scope"] = reset_ok ? "this model's benchmark (VmHWM reset before it)"
                                                            : "whole process so far (VmHWM could not be reset)";
        }
    }
    run.loglik = loglik_json(scorer.stats());
    run.backend = lm->backend();
    run.device = accel ? accel_device : "cpu";
    return run;
}

}  // namespace

std::string classify_eval_target(const fs::path& dir) {
    if (!fs::is_directory(dir)) fail(dir.string(), "not a folder (expected an export folder or a model folder)");
    if (onnx::is_export_dir(dir)) return "export";
    if (fs::exists(dir / "config.json")) return "model";
    fail(dir.string(), "neither an export folder (model.onnx + genai_config.json) nor a model folder (config.json)");
}

json run_evaluation(const EvalRequest& req, const JobContext& job) {
    std::string device_note;
    // A plan and its baseline run on one backend (the CPU engine), so their difference is the plan's alone.
    const auto runner = req.plan ? backend::find_backend("cpu") : backend::select_backend(req.device, "--device", &device_note);
    const std::string device = runner->name();  // "cpu" or the accelerator's ("cuda")
    if (req.ppl_window < 2) fail("", "perplexity window must be at least 2");
    if (req.batch < 1) fail("", "batch must be at least 1");
    if (req.batch_tokens < 0) fail("", "batch tokens must be positive");
    if (req.speed_prompt < 1 || req.speed_decode < 0 || req.speed_runs < 1) fail("", "speed: prompt >= 1, decode >= 0, runs >= 1");
    const std::string kind = classify_eval_target(req.target);
    if (req.plan && kind != "model") fail(req.target.string(), "--plan needs a model folder (an export is its plan already)");

    // Data first: a malformed file fails before any model is loaded.
    Data data;
    std::vector<std::string> tasks;
    if (req.mmlu) {
        data.mmlu = load_mmlu(*req.mmlu, req.limit_for(req.mmlu_limit));
        tasks.push_back("mmlu");
    }
    if (req.piqa) {
        data.piqa = load_piqa(*req.piqa, req.limit_for(req.piqa_limit));
        tasks.push_back("piqa");
    }
    if (req.ppl_text) {
        data.ppl_text = read_text_file(*req.ppl_text);
        tasks.push_back("ppl");
    }
    if (req.speed && !req.plan) tasks.push_back("speed");
    if (req.speed && req.plan) job.log("speed: not measured for a plan on the engine (fake-quant weights run at the dense speed); export it to time it");
    if (tasks.empty()) fail("", "nothing to evaluate: give --mmlu DIR, --piqa DIR, --ppl FILE and/or --speed");

    json report;
    report["schema"] = "mixq.eval/1";
    report["target"] = {{"path", req.target.string()}, {"kind", kind},
                        {"backend", kind == "export" ? "onnx-runner" : "engine"},
                        {"plan", kind == "export" ? plan_summary(req.target) : json(nullptr)}};
    if (req.plan) {
        report["target"]["kind"] = "plan";
        report["target"]["plan"] = {{"average_bits", req.plan->avg_bits},
                                    {"predicted_kld", req.plan->kld_complete() ? json(req.plan->predicted_kld) : json(nullptr)},
                                    {"scores_mode", req.plan->score_mode},
                                    {"rotation", req.plan->rotation},
                                    {"estimated_file_bytes", req.plan->estimated_file_bytes}};
    }

    // Baseline: --baseline, else (exports) the source model named by mixq_plan.json.
    std::optional<fs::path> baseline;
    std::string baseline_from, baseline_note;
    if (req.no_baseline) {
        baseline_note = "disabled (--no-baseline)";
    } else if (req.baseline) {
        if (classify_eval_target(*req.baseline) != "model")
            fail(req.baseline->string(), "--baseline must be a model folder (config.json, *.safetensors)");
        baseline = *req.baseline;
        baseline_from = "--baseline";
    } else if (kind == "export") {
        const json& plan_j = report["target"]["plan"];
        if (plan_j.is_object() && plan_j.contains("model_path")) {
            const fs::path p = plan_j["model_path"].get<std::string>();
            for (const fs::path& cand : {p, req.target / p}) {
                if (!baseline && fs::exists(cand / "config.json")) baseline = cand;
            }
            if (baseline) baseline_from = "mixq_plan.json";
            else baseline_note = "source model " + p.string() + " (from mixq_plan.json) not found; pass --baseline MODEL_DIR";
        } else {
            baseline_note = "no mixq_plan.json with a model path; pass --baseline MODEL_DIR";
        }
    } else if (req.plan) {
        baseline = req.target;  // the plan's own model, dense
        baseline_from = "the plan's model";  // its hash is checked when the plan's weights are applied
    } else {
        baseline_note = "a model folder is its own reference; pass --baseline MODEL_DIR to compare with another";
    }
    report["baseline"] = baseline ? json{{"path", baseline->string()}, {"from", baseline_from}, {"backend", "engine"}} : json(nullptr);
    // Is the baseline the model the plan was made for? (content hash of config.json and every weight byte)
    const json& plan = report["target"]["plan"];
    if (baseline && plan.is_object() && plan.contains("model_hash") && plan["model_hash"].is_string()) {
        const bool same = io::Model::open(*baseline)->content_hash() == plan["model_hash"].get<std::string>();
        report["baseline"]["matches_plan_hash"] = same;
        if (!same) job.log("baseline: " + baseline->string() + " is not the model mixq_plan.json was made for (content hash differs)");
    }
    if (!baseline_note.empty()) {
        report["baseline_note"] = baseline_note;
        job.log("baseline: " + baseline_note);
    }

    report["settings"] = {
        {"limit", req.limit >= 0 ? json(req.limit) : json(nullptr)},
        {"limits",
         {{"mmlu", req.limit_for(req.mmlu_limit) >= 0 ? json(req.limit_for(req.mmlu_limit)) : json(nullptr)},
          {"piqa", req.limit_for(req.piqa_limit) >= 0 ? json(req.limit_for(req.piqa_limit)) : json(nullptr)},
          {"ppl", req.limit_for(req.ppl_limit) >= 0 ? json(req.limit_for(req.ppl_limit)) : json(nullptr)}}},
        {"data",
         {{"mmlu", req.mmlu ? json(req.mmlu->string()) : json(nullptr)},
          {"piqa", req.piqa ? json(req.piqa->string()) : json(nullptr)},
          {"ppl", req.ppl_text ? json(req.ppl_text->string()) : json(nullptr)}}},
        {"device", device},
        {"device_requested", req.device},
        {"device_note", device_note.empty() ? json(nullptr) : json(device_note)},
        {"threads", omp_get_max_threads()},
        {"order", {{"mmlu", "subjects alphabetically (file name), then rows in file order"},
                   {"piqa", "file order"},
                   {"ppl", "windows from the start of the text"}}},
        {"stderr", "sqrt(p(1-p)/(n-1)) (lm-evaluation-harness mean_stderr of 0/1 outcomes)"},
        {"tokenization", "context and continuation encoded separately without special tokens, ids concatenated; "
                         "trailing context whitespace moved to the continuation; left truncation to the context window"},
        {"prefix_reuse", req.reuse_prefix},
        {"batch", req.batch},
        {"batch_tokens", req.batch_tokens > 0 ? req.batch_tokens : kDefaultBatchTokens},
        {"ppl_window", req.ppl_window},
        {"speed", {{"prompt_tokens", req.speed_prompt}, {"decode_tokens", req.speed_decode}, {"runs", req.speed_runs}}}};

    double total = 0.0;
    for (const auto& t : tasks) total += stage_weight(t, data, req) * (baseline ? 2.0 : 1.0);
    const bool measure_kld = baseline && !data.ppl_text.empty();
    if (measure_kld) total += stage_weight("kld", data, req);
    ProgressScale progress(job, total);
    if (!device_note.empty()) job.log(device_note + "; evaluating on the CPU");
    if (device != "cpu" && kind == "export")
        job.log("the export runs on the built-in ONNX runner (CPU); model folders run on " + runner->device_name());
    // Speed on the GPU needs like-for-like rows: an export is timed there as its plan applied to its source model
    // (when that model is the baseline and matches the plan's hash), else both rows are timed on the CPU.
    const bool accel_speed = device != "cpu" && req.speed && runner->has_speed_session();
    std::optional<plan::Plan> export_plan;
    if (accel_speed && kind == "export" && baseline && report["baseline"].value("matches_plan_hash", false))
        export_plan = plan::load_plan(req.target / "mixq_plan.json");
    const bool gpu_speed = accel_speed && (kind == "model" || export_plan.has_value());
    if (accel_speed && !gpu_speed)
        job.log("speed: the export has no mixq_plan.json matching a baseline model, so both are timed on the CPU");
    const bool speed_as_export = baseline && req.speed && kind == "export" && !gpu_speed;
    Placement target_where{runner, gpu_speed, export_plan ? &*export_plan : nullptr, baseline};
    const ModelRun target = evaluate_model(req.target, kind, data, req, tasks, progress, job, target_where,
                                           req.plan ? &*req.plan : nullptr);
    std::optional<ModelRun> base;
    if (baseline) {
        // An export's baseline speed is timed as a 16-bit export of the source model in the export's runtime (ORT
        // or the built-in runner); its other tasks run on the engine (their results do not depend on the runtime).
        std::vector<std::string> base_tasks = tasks;
        if (speed_as_export) std::erase(base_tasks, std::string("speed"));
        base = evaluate_model(*baseline, "model", data, req, base_tasks, progress, job,
                              Placement{runner, gpu_speed, nullptr, std::nullopt});
        if (speed_as_export) {
            const JobContext log_only(job.token(), [](const Progress&) {}, [&job](const std::string& l) { job.log(l); });
            const BaselineExport b16(*baseline, req.target, log_only);
            const ModelRun timed = evaluate_model(b16.dir(), "export", data, req, {"speed"}, progress, job,
                                                  Placement{backend::find_backend("cpu"), false, nullptr, std::nullopt});
            base->tasks["speed"] = timed.tasks.at("speed");
            base->tasks["speed"]["timed_file"] = "16-bit export of " + baseline->string() + " (" + b16.target() +
                                                 " target, the export's settings), in a temporary folder";
        }
    }
    if (measure_kld) {
        JobContext sub = progress.stage(stage_weight("kld", data, req));
        report["measured_kld"] = measured_kld_json(req.target, kind, *baseline, *runner, data.ppl_text, req,
                                                   report["target"]["plan"], sub);
    }
    report["target"]["backend"] = target.backend;
    report["target"]["device"] = target.device;
    if (base) {
        report["baseline"]["backend"] = base->backend;
        report["baseline"]["device"] = base->device;
    }
    job.report(1.0, "eval", "done");

    json rows = json::object();
    for (const auto& t : tasks) {
        const json* b = base ? &base->tasks[t] : nullptr;
        rows[t] = task_row(t, target.tasks[t], b);
    }
    if (base) {
        if (rows.contains("mmlu")) rows["mmlu"]["delta"]["agreement"] = agreement(target.mmlu_pred, base->mmlu_pred);
        if (rows.contains("piqa")) {
            rows["piqa"]["delta"]["agreement"] = agreement(target.piqa_pred, base->piqa_pred);
            rows["piqa"]["delta"]["agreement_norm"] = agreement(target.piqa_pred_norm, base->piqa_pred_norm);
        }
    }
    report["tasks"] = rows;
    report["loglik"] = {{"target", target.loglik}, {"baseline", base ? base->loglik : json(nullptr)}};
    return report;
}

}  // namespace mixq::eval
