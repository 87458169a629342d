// SPDX-License-Identifier: MIT
// `mixq bench-gpu MODEL [--mode full|low_memory] [--prompt N] [--gen N] [--runs N] [--formats LIST] [--device N]
// [--profile] [--json]`: CUDA decoder prefill/decode tokens/s per weight format (BF16, int8, int4 by default), decode
// with the CUDA graph and with direct launches, the gate|up GEMV alone, and (--profile) GPU time per operation of a
// decode step, against the bounds measured in the same run: decode vs device-to-device copy bandwidth ÷ weight bytes per token (pinned host-to-device
// bandwidth in low_memory mode), prefill vs cuBLAS BF16 GEMMs at the model's linear shapes.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/cli/cli_command.h"
#include "app/cli/cli_signals.h"
#include "core/common/error.h"
#include "core/eval/speed_bench.h"
#include "core/io/model.h"
#include "core/quant/quant_format.h"
#include "core/score/memory_mode.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/cuda_decoder.h"
#include "gpu/decoder_session.h"
#include "gpu/cuda_resources.h"
#include "gpu/device_info.h"
#include "gpu/gpu_bench.h"
#include "gpu/nbits_matmul.cuh"
#endif

namespace mixq::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

int run_bench_gpu(const Args& args) {
    args.allow_only({"--mode", "--prompt", "--gen", "--runs", "--formats", "--device", "--json", "--profile"});
    const std::string path = args.positional_at(0, "MODEL folder");
    const std::string mode_name = args.get_or("--mode", "full");
    const int prompt = static_cast<int>(args.get_int("--prompt", 256, 1, 1 << 20));
    const int gen = static_cast<int>(args.get_int("--gen", 128, 1, 1 << 20));
    const int runs = static_cast<int>(args.get_int("--runs", 3, 1, 10000));
    const int device = static_cast<int>(args.get_int("--device", 0, 0, 1024));
    const auto formats = split_list(args.get_or("--formats", "bf16,int8-g128,int4-g128"));
    if (prompt < 1 || gen < 1 || runs < 1) usage_fail("--prompt >= 1, --gen >= 1, --runs >= 1");
    const auto mode = score::parse_memory_mode(mode_name);
    if (mode != score::MemoryMode::Full && mode != score::MemoryMode::LowMemory)
        usage_fail("--mode must be full or low_memory");
    std::vector<quant::QuantFormat> fmts;
    for (const auto& f : formats) fmts.push_back(quant::QuantFormat::parse(f));
    if (fmts.empty()) usage_fail("--formats needs at least one format");
#ifndef MIXQ_WITH_CUDA
    (void)path;
    (void)device;
    fail("bench-gpu", "built without CUDA (configure with -DMIXQ_CUDA=ON); run `mixq bench MODEL` for the CPU engine");
#else
    std::string why;
    if (!gpu::cuda_available(&why, false)) fail("bench-gpu", why + "; run `mixq bench MODEL` for the CPU engine");
    const auto devices = gpu::list_devices();
    if (device < 0 || device >= static_cast<int>(devices.size()))
        usage_fail("--device " + std::to_string(device) + ": there are " + std::to_string(devices.size()) + " CUDA devices");
    auto model = io::Model::open(path);
    const auto& c = model->config();
    gpu::DeviceGuard guard(device);
    const bool low = mode == score::MemoryMode::LowMemory;

    // Bounds measured in this run.
    const double d2d = gpu::measure_d2d_bandwidth(std::min<size_t>(size_t(1) << 30, devices[device].free_bytes / 8));
    const double h2d = low ? gpu::measure_h2d_bandwidth() : 0.0;
    const std::vector<std::pair<int, int>> shapes = {{c.q_dim() + 2 * c.kv_dim(), c.hidden_size},
                                                     {c.hidden_size, c.q_dim()},
                                                     {2 * c.intermediate_size, c.hidden_size},
                                                     {c.hidden_size, c.intermediate_size}};
    double layer_s = 0, layer_flop = 0;
    for (auto [n, k] : shapes) {
        layer_s += gpu::measure_gemm_seconds(prompt, n, k, io::DType::BF16);
        layer_flop += 2.0 * prompt * n * k;
    }
    const double head_s = gpu::measure_gemm_seconds(1, c.vocab_size, c.hidden_size, io::DType::BF16);
    const double prefill_bound = prompt / (c.num_layers * layer_s + head_s);
    const double gemm_tflops = layer_flop / layer_s / 1e12;

    nlohmann::json j = {{"model", model->dir().string()},
                        {"parameters", model->parameter_count()},
                        {"device", "cuda:" + std::to_string(device)},
                        {"device_name", devices[device].name},
                        {"compute_capability", std::to_string(devices[device].cc_major) + "." +
                                                   std::to_string(devices[device].cc_minor)},
                        {"mode", score::memory_mode_name(mode)},
                        {"prompt_tokens", prompt},
                        {"decode_tokens", gen},
                        {"runs", runs},
                        {"d2d_copy_bandwidth_gb_s", d2d / 1e9},
                        {"gemm_bf16_tflops", gemm_tflops},
                        {"prefill_bound_tokens_per_s", prefill_bound}};
    if (low) j["h2d_pinned_bandwidth_gb_s"] = h2d / 1e9;
    nlohmann::json results = nlohmann::json::array();
    for (const auto& f : fmts) {
        gpu::CudaDecoderOptions o;
        o.mode = mode;
        o.device = device;
        o.weight_dtype = io::DType::BF16;
        o.activation_dtype = io::DType::BF16;
        if (!f.is_float()) o.quant = f;
        o.max_positions = prompt + gen + 8;
        o.max_chunk_tokens = prompt;
        o.log = [&](const std::string& line) {
            if (!args.has("--json")) std::cerr << line << "\n";
        };
        auto decoder = std::make_shared<gpu::CudaDecoder>(model, o);
        gpu::CudaDecoder& dec = *decoder;
        gpu::CudaDecoderSession s(decoder, true, "cuda:" + std::to_string(device), false);
        const auto r = eval::run_speed_bench(s, prompt, gen, runs, c.vocab_size, make_cli_job(true));
        const bool graphed = dec.decode_graph_active();
        double direct_decode = 0;  // the same decode with one launch per kernel (the baseline of the graph)
        if (graphed) {
            dec.set_cuda_graphs(false);
            direct_decode = eval::run_speed_bench(s, prompt, gen, runs, c.vocab_size, make_cli_job(true)).decode_tokens_per_s;
            dec.set_cuda_graphs(true);
        }
        const double bound = (low ? h2d : d2d) / static_cast<double>(s.weight_bytes_per_token());
        // The gate|up linear alone at decode shape: the kernel's share of the copy bandwidth, without launch gaps.
        const int gu_n = 2 * c.intermediate_size, gu_k = c.hidden_size;
        const double gemv_s = gpu::measure_linear_decode_seconds(gu_n, gu_k, f);
        double gemv_bytes = 2.0 * gu_n * gu_k;
        if (!f.is_float()) {
            gpu::NBitsMatrix shape;
            shape.n = gu_n;
            shape.k = gu_k;
            shape.bits = f.bits;
            shape.block_size = f.block_size;
            gemv_bytes = static_cast<double>(gu_n) * shape.k_blocks() * (shape.blob_size() + 2) +
                         (f.symmetric ? 0.0 : static_cast<double>(gu_n) * shape.zp_row_bytes());
        }
        nlohmann::json profile = nullptr;  // --profile: GPU time per operation of a decode step (direct launches)
        if (args.has("--profile")) {
            dec.reset();
            std::vector<int> ids(static_cast<size_t>(prompt));
            for (int i = 0; i < prompt; ++i) ids[static_cast<size_t>(i)] = (i * 7 + 1) % c.vocab_size;
            dec.forward_last(ids);
            dec.set_op_timing(true);
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < gen; ++i) dec.forward_last({(i * 13 + 5) % c.vocab_size});
            const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            profile = nlohmann::json::object();
            double sum = 0;
            for (const auto& [op, ms] : dec.op_times()) {
                profile[op] = ms * 1e3 / gen;
                sum += ms * 1e3 / gen;
            }
            profile["sum_of_ops"] = sum;
            profile["wall"] = wall * 1e6 / gen;
            dec.set_op_timing(false);
        }
        results.push_back({{"format", f.is_float() ? std::string("bf16") : f.name()},
                           {"decode_profile_us_per_token", profile},
                           {"gate_up_gemv_us", gemv_s * 1e6},
                           {"gate_up_gemv_gb_s", gemv_bytes / gemv_s / 1e9},
                           {"gate_up_gemv_fraction_of_copy_bw", gemv_bytes / gemv_s / d2d},
                           {"weight_bytes_per_token", s.weight_bytes_per_token()},
                           {"decode_tokens_per_s", r.decode_tokens_per_s},
                           {"decode_cuda_graph", graphed},
                           {"decode_tokens_per_s_direct_launches", graphed ? nlohmann::json(direct_decode) : nlohmann::json(nullptr)},
                           {"decode_bound_tokens_per_s", bound},
                           {"decode_fraction_of_bound", bound > 0 ? r.decode_tokens_per_s / bound : 0.0},
                           {"prefill_tokens_per_s", r.prefill_tokens_per_s},
                           {"prefill_fraction_of_bound", r.prefill_tokens_per_s / prefill_bound},
                           {"decoder", dec.describe()}});
    }
    j["results"] = results;
    if (args.has("--json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << std::fixed << std::setprecision(1) << "model " << model->dir().string() << " ("
              << model->parameter_count() / 1e6 << "M params) on cuda:" << device << " " << devices[device].name
              << ", mode " << score::memory_mode_name(mode) << ", " << prompt << "-token prompt, " << gen
              << " decoded tokens, median of " << runs << "\n"
              << "bounds: " << d2d / 1e9 << " GB/s device-to-device copy"
              << (low ? ", " + std::to_string(h2d / 1e9).substr(0, 5) + " GB/s pinned host-to-device" : std::string())
              << "; cuBLAS BF16 GEMM " << gemm_tflops << " TFLOP/s at the prefill shapes -> prefill bound "
              << prefill_bound << " tokens/s\n";
    std::cout << std::left << std::setw(14) << "format" << std::right << std::setw(12) << "MB/token" << std::setw(14)
              << "decode tok/s" << std::setw(13) << "bound tok/s" << std::setw(9) << "% bound" << std::setw(15)
              << "prefill tok/s" << std::setw(9) << "% bound" << "\n";
    for (const auto& r : results)
        std::cout << std::left << std::setw(14) << r["format"].get<std::string>() << std::right << std::setw(12)
                  << r["weight_bytes_per_token"].get<uint64_t>() / 1e6 << std::setw(14)
                  << r["decode_tokens_per_s"].get<double>() << std::setw(13) << r["decode_bound_tokens_per_s"].get<double>()
                  << std::setw(9) << 100 * r["decode_fraction_of_bound"].get<double>() << std::setw(15)
                  << r["prefill_tokens_per_s"].get<double>() << std::setw(9)
                  << 100 * r["prefill_fraction_of_bound"].get<double>() << "\n";
    std::cout << "decode without the CUDA graph (direct launches):";
    for (const auto& r : results)
        if (!r["decode_tokens_per_s_direct_launches"].is_null())
            std::cout << " " << r["format"].get<std::string>() << " " << r["decode_tokens_per_s_direct_launches"].get<double>()
                      << " tok/s";
    std::cout << "\n";
    for (const auto& r : results) {
        if (r["decode_profile_us_per_token"].is_null()) continue;
        std::cout << "decode step profile " << r["format"].get<std::string>() << " (us per token, all layers):";
        for (const auto& [op, us] : r["decode_profile_us_per_token"].items()) std::cout << " " << op << " " << us.get<double>();
        std::cout << "\n";
    }
    std::cout << "gate|up linear alone at decode shape (" << 2 * c.intermediate_size << " x " << c.hidden_size << "):";
    for (const auto& r : results)
        std::cout << " " << r["format"].get<std::string>() << " " << r["gate_up_gemv_us"].get<double>() << " us ("
                  << 100 * r["gate_up_gemv_fraction_of_copy_bw"].get<double>() << "% of copy bandwidth)";
    std::cout << "\n";
    return 0;
#endif
}

CommandRegistrar reg({"bench-gpu",
                      "mixq bench-gpu MODEL [--mode full|low_memory] [--prompt N] [--gen N] [--runs N] [--formats "
                      "bf16,int8-g128,int4-g128] [--device N] [--profile] [--json]",
                      "CUDA decoder prefill/decode tokens/s per weight format against the measured HBM-bandwidth and "
                      "cuBLAS BF16 GEMM bounds.",
                      {"--json", "--profile"}, run_bench_gpu});

}  // namespace
}  // namespace mixq::cli
