// SPDX-License-Identifier: MIT
// `mixq export MODEL --plan plan.json --out DIR [...]`: the ONNX Runtime GenAI folder of a planned model, and
// `mixq bench-export MODEL [--format F]`: export time, write bandwidth and peak memory for a uniform plan.
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "app/cli/cli_signals.h"
#include "core/common/error.h"
#include "core/common/memory_bandwidth.h"
#include "core/export/exporter.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"

namespace mixq::cli {
namespace {

exporter::ExportOptions parse_options(const Args& args) {
    exporter::ExportOptions o;
    o.qkv = exporter::parse_qkv_mode(args.get_or("--qkv", "packed"));
    o.fuse_gate_up = args.has("--fuse-gate-up");
    o.tied = exporter::parse_tied_mode(args.get_or("--tied-embeddings", "auto"));
    o.check = !args.has("--no-check");
    o.target = exporter::parse_target(args.get_or("--target", "cpu"));
    o.accuracy_level = exporter::parse_accuracy_level(
        args.get_or("--accuracy-level", std::to_string(exporter::default_accuracy_level(o.target))));
    o.rotation = args.get_or("--rotation", "auto");
    o.overwrite = args.has("--overwrite");
    return o;
}

nlohmann::json result_json(const exporter::ExportResult& r, const exporter::ExportOptions& o) {
    const double peak_mb = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
    return {{"out", r.out_dir.string()},
            {"files", r.files},
            {"onnx_bytes", r.onnx_bytes},
            {"data_bytes", r.data_bytes},
            {"padding_bytes", r.padding_bytes},
            {"total_bytes", r.total_bytes},
            {"nodes", r.nodes},
            {"initializers", r.initializers},
            {"matmul_nbits", r.matmul_nbits},
            {"float_matmuls", r.float_matmuls},
            {"gather_block_quantized", r.gather_block_quantized},
            {"qkv", exporter::qkv_mode_name(o.qkv)},
            {"fuse_gate_up", r.gate_up_fused},
            {"tied_embeddings", exporter::tied_mode_name(o.tied)},
            {"tied_shared", r.tied_shared},
            {"target", exporter::target_name(o.target)},
            {"accuracy_level", o.accuracy_level},
            {"rotation", o.rotation},
            {"units_not_in_plan", r.units_not_in_plan},
            {"checked", o.check},
            {"seconds", r.seconds},
            {"check_seconds", r.check_seconds},
            {"write_mb_per_s", r.write_mb_per_s},
            {"peak_rss_mb", peak_mb}};
}

void print_result(const exporter::ExportResult& r) {
    std::cout << std::fixed << std::setprecision(2) << "exported " << r.out_dir.string() << "\n"
              << "  model.onnx " << r.onnx_bytes << " bytes, model.onnx.data " << r.data_bytes << " bytes, folder "
              << r.total_bytes << " bytes\n"
              << "  " << r.nodes << " nodes (" << r.matmul_nbits << " MatMulNBits, " << r.float_matmuls
              << " float MatMul, " << r.gather_block_quantized << " GatherBlockQuantized), qkv "
              << (r.qkv_packed ? "packed" : "unpacked") << ", gate/up " << (r.gate_up_fused ? "fused" : "separate")
              << ", embeddings " << (r.tied_shared ? "shared with lm_head" : "separate") << "\n"
              << "  " << r.seconds << " s (checker " << r.check_seconds << " s), " << r.write_mb_per_s << " MB/s, peak RSS "
              << static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0) << " MiB\n";
    if (r.units_not_in_plan > 0)
        std::cout << "  note: " << r.units_not_in_plan << " unit(s) of the model are not in the plan and were kept 16-bit\n";
}

int run_export(const Args& args) {
    args.allow_only({"--plan", "--out", "--qkv", "--fuse-gate-up", "--tied-embeddings", "--target", "--accuracy-level", "--rotation", "--no-check", "--overwrite", "--json", "--quiet"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const auto plan_path = args.get("--plan");
    if (!plan_path) usage_fail("missing --plan plan.json");
    const auto out = args.get("--out");
    if (!out) usage_fail("missing --out DIR");
    exporter::ExportOptions opt = parse_options(args);
    opt.plan_label = *plan_path;
    const plan::Plan plan = plan::load_plan(*plan_path);
    auto job = make_cli_job(args.has("--quiet") || args.has("--json"));
    const auto r = exporter::export_onnx(*model, plan, *out, opt, job);
    if (args.has("--json"))
        std::cout << result_json(r, opt).dump(2) << "\n";
    else
        print_result(r);
    return 0;
}

int run_bench_export(const Args& args) {
    args.allow_only({"--format", "--out", "--qkv", "--fuse-gate-up", "--tied-embeddings", "--target", "--accuracy-level", "--rotation", "--no-check", "--json", "--quiet"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const quant::QuantFormat f = quant::QuantFormat::parse(args.get_or("--format", "int4-g32"));
    const exporter::ExportOptions opt = parse_options(args);
    exporter::hash_model_streaming(*model);  // cached: make_model_plan's hash then costs nothing
    const plan::Plan plan = plan::make_model_plan(*model, [&](const io::QuantUnit&) { return f; });
    const bool keep = args.has("--out");
    const std::filesystem::path out =
        keep ? std::filesystem::path(*args.get("--out"))
             : std::filesystem::temp_directory_path() / ("mixq-bench-export-" + std::to_string(::getpid()));
    auto job = make_cli_job(args.has("--quiet") || args.has("--json"));
    const exporter::ExportResult r = exporter::export_onnx(*model, plan, out, opt, job);
    if (!keep) std::filesystem::remove_all(out);
    nlohmann::json j = result_json(r, opt);
    j["format"] = f.name();
    j["kept"] = keep;
    if (args.has("--json"))
        std::cout << j.dump(2) << "\n";
    else {
        std::cout << "uniform " << f.name() << " plan\n";
        print_result(r);
        if (!keep) std::cout << "  (output removed; pass --out DIR to keep it)\n";
    }
    return 0;
}

CommandRegistrar reg_export(
    {"export",
     "mixq export MODEL --plan plan.json --out DIR [--qkv packed|unpacked] [--fuse-gate-up] "
     "[--tied-embeddings auto|on|off] [--target cpu|cuda|dml] [--accuracy-level 0-4] [--rotation auto|none|hadamard] [--no-check] [--overwrite] [--json]",
     "Writes the planned model as an ONNX Runtime GenAI folder (model.onnx + model.onnx.data, genai_config.json, "
     "tokenizer files, mixq_plan.json), atomically; --json reports sizes, time, MB/s and peak RSS. "
     "--target picks the execution provider as the builder's -e: cpu (float32 activations) or cuda / dml (float16 "
     "activations and logits). --accuracy-level sets MatMulNBits' accuracy_level (the builder's default: 4, int8 "
     "activations, on cpu; 0 on cuda / dml). An existing --out folder holding files MixQ did not write is refused; "
     "--overwrite replaces only MixQ's files there and keeps the others.",
     {"--fuse-gate-up", "--no-check", "--overwrite", "--json", "--quiet"},
     run_export});

CommandRegistrar reg_bench(
    {"bench-export",
     "mixq bench-export MODEL [--format int4-g32] [--out DIR] [--qkv packed|unpacked] [--fuse-gate-up] "
     "[--tied-embeddings auto|on|off] [--target cpu|cuda|dml] [--accuracy-level 0-4] [--rotation auto|none|hadamard] [--no-check] [--json]",
     "Exports MODEL with every unit in one format and reports export time, write MB/s and peak RSS (the output is "
     "removed unless --out is given).",
     {"--fuse-gate-up", "--no-check", "--json", "--quiet"},
     run_bench_export});

}  // namespace
}  // namespace mixq::cli
