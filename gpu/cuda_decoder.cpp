// SPDX-License-Identifier: MIT
// CudaDecoder: placement of layer images on devices (full / low_memory / multi_gpu), the per-device activation
// buffers and KV cache, and the forward pass as a sequence of kernel launches per layer:
//   [rms_norm] → qkv linear (+bias) → [q/k norm] → RoPE(q|k) → K|V into the cache → attention → o linear →
//   residual += o, x = post_norm → gate|up linear → silu·mul → down linear → residual += down, x = next norm.
#include "gpu/cuda_decoder.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/common/error.h"
#include "core/engine/rope.h"
#include "core/io/model_layout.h"
#include "gpu/attention.cuh"
#include "gpu/cuda_resources.h"
#include "gpu/decoder_weights.h"
#include "gpu/dense_gemm.h"
#include "gpu/device_info.h"
#include "gpu/elementwise.cuh"
#include "gpu/nbits_matmul.cuh"
#include "gpu/rms_norm.cuh"
#include "gpu/rope.cuh"
#include "gpu/silu_mul.cuh"

namespace mixq::gpu {

namespace {

constexpr const char* kWhere = "CudaDecoder";
constexpr int kLogitRows = 64;        // lm_head rows per launch when every position's logits are wanted
constexpr int kDecodeMaxSplits = 64;  // sequence splits of the decode attention
// Quantized linears over at least this many rows are dequantized into a dense scratch matrix and run by cuBLAS
// (prefill); fewer rows use the MatMulNBits GEMV/GEMM kernels directly (decode).
constexpr int kDequantGemmRows = 32;
constexpr uint64_t kMaxDequantScratch = 512ull << 20;  // larger scratch: stay on the MatMulNBits GEMM kernel

void ck(cudaError_t e, const char* what) { check_cuda(e, std::string(kWhere) + ": " + what); }

size_t dsize(io::DType t) { return io::dtype_size(t); }

template <class T>
T* at(const DeviceBuffer& b, size_t byte_offset) {
    return reinterpret_cast<T*>(static_cast<char*>(b.data()) + byte_offset);
}

std::string mib(uint64_t b) { return std::to_string((b + (1u << 19)) >> 20) + " MiB"; }

}  // namespace

/// One device's share of the model: a contiguous range of layers and everything needed to run them.
struct Part {
    int device = 0;
    int first = 0, count = 0;  // decoder layers [first, first + count)
    std::unique_ptr<Stream> compute, copy;
    std::unique_ptr<CublasHandle> cublas;
    std::unique_ptr<Event> loaded[2], freed[2], done;
    DeviceBuffer layers;  // full / multi_gpu: `count` images back to back
    DeviceBuffer slots;   // low_memory: two images
    int slot_layer[2] = {-1, -1};  // low_memory: the layer each slot holds (or is being filled with)
    DeviceBuffer norms, inv_freq, kv;
    DeviceBuffer residual, x, qkv, attn, delta, gu, act, xcast, attn_ws;  // delta: fp32 (o / down outputs)
    DeviceBuffer wdense;  // dequantized weight of one quantized linear, for prefill-sized row counts (may be empty)
    DeviceBuffer ids, embed;  // first part
    DeviceBuffer head, logits;  // last part (head unused when the lm_head reads the tied embedding table)
};

struct CudaDecoder::Impl {
    CudaDecoderOptions opt;
    io::ModelConfig cfg;
    io::DType act = io::DType::BF16, wdt = io::DType::BF16, sdt = io::DType::BF16;
    LayerLayout layout;               // layer 0's (the scorer's building blocks need one layout for all layers)
    std::vector<LayerLayout> layouts;  // per layer (formats may differ by layer)
    std::vector<size_t> layer_off;    // byte offset of layer l's image when all are back to back; [L] = total
    size_t max_bytes = 0;             // largest layer image (streaming slots, staging)
    LinearSlot head_slot;
    bool head_in_embed = false;  // tied, dense and one part: the lm_head reads the embedding buffer
    std::vector<Part> parts;
    std::vector<int> counts;
    PinnedBuffer host_layers, host_ids, host_logits, host_pos;
    DeviceBuffer pos_dev;                  // decode graph: the step's position
    cudaGraphExec_t graph_exec = nullptr;  // decode graph: captured at the first eligible step
    bool graph_broken = false;             // capture failed once: launch directly from then on
    const int* cur_pos_dev = nullptr;      // set while capturing: kernels read the position from pos_dev
    // op timing (set_op_timing): an event before each operation of a forward, the intervals summed per name
    bool timing = false;
    std::vector<Event> tick_events;
    std::vector<const char*> tick_names;
    size_t ticks = 0;
    std::map<std::string, double> op_ms;

    void tick(const char* name, cudaStream_t s) {
        if (!timing) return;
        if (ticks == tick_events.size()) tick_events.emplace_back(true);
        if (tick_names.size() <= ticks) tick_names.resize(ticks + 1);
        tick_events[ticks].record(s);
        tick_names[ticks] = name;
        ++ticks;
    }
    /// Closes the intervals of this forward (waits for the stream).
    void collect_ticks(cudaStream_t s) {
        if (!timing || ticks == 0) return;
        tick(nullptr, s);
        tick_events[ticks - 1].synchronize();
        for (size_t i = 0; i + 1 < ticks; ++i)
            op_ms[tick_names[i]] += tick_events[i + 1].elapsed_ms_since(tick_events[i]);
        ticks = 0;
    }
    int L = 0, H = 0, Q = 0, KV = 0, QKV = 0, I = 0, nh = 0, nkv = 0, d = 0, V = 0;
    int cap = 0, chunk = 0, length = 0;
    int run_end = 0;  // layers at or past this are not prefetched (end of the current run)
    float eps = 1e-6f;
    size_t norm_stride = 0;  // floats per layer in the norms buffer
    size_t ws_floats = 0;
    uint64_t weight_bytes = 0;
    std::string description;

    ~Impl() {
        for (auto& p : parts)
            if (p.compute) cudaStreamSynchronize(p.compute->get());
        if (graph_exec) {
            DeviceGuard g(parts.front().device);
            cudaGraphExecDestroy(graph_exec);
        }
        for (auto& p : parts)
            if (p.copy) cudaStreamSynchronize(p.copy->get());
    }

    void log(const std::string& line) const {
        if (opt.log) opt.log(line);
        else std::fprintf(stderr, "%s\n", line.c_str());
    }

    // ------------------------------------------------------------------ setup
    void init(engine::Transformer& src, CudaDecoderOptions o) {
        opt = std::move(o);
        std::string why;
        if (!cuda_available(&why, false)) throw Error(why);
        cfg = src.config();
        if (cfg.has_sliding_window())
            fail(src.model().dir().string(), "sliding-window attention (sliding_window " + std::to_string(cfg.sliding_window) +
                                                 ") is not implemented by the CUDA decoder; use --device cpu");
        L = cfg.num_layers;
        H = cfg.hidden_size;
        Q = cfg.q_dim();
        KV = cfg.kv_dim();
        QKV = Q + 2 * KV;
        I = cfg.intermediate_size;
        nh = cfg.num_heads;
        nkv = cfg.num_kv_heads;
        d = cfg.head_dim;
        V = cfg.vocab_size;
        eps = static_cast<float>(cfg.rms_norm_eps);
        act = opt.activation_dtype;
        wdt = opt.weight_dtype;
        sdt = src.model().weight_dtype();
        if (wdt == io::DType::F32 && act != io::DType::F32)
            fail(kWhere, "F32 weights need F32 activations (use BF16 or F16 weights for 16-bit activations)");
        if (d > kMaxAttentionHeadDim || (d & 1)) fail(kWhere, "head_dim " + std::to_string(d) + " is not supported (even, <= 256)");
        if (opt.max_chunk_tokens < 1) fail(kWhere, "max_chunk_tokens must be >= 1");
        if (opt.quant && opt.quant->is_float()) opt.quant.reset();
        chunk = opt.max_chunk_tokens;
        cap = opt.max_positions > 0 ? opt.max_positions : std::min(cfg.max_position_embeddings, 4096);
        if (cap < 1) cap = 1;
        ws_floats = attention_decode_workspace_floats(nh, d, kDecodeMaxSplits);
        norm_stride = 2 * static_cast<size_t>(H) + 2 * static_cast<size_t>(d);

        auto first_layer = src.layer(0);
        const bool qkv_bias = [&] {
            for (const auto* l : {&first_layer->q, &first_layer->k, &first_layer->v}) {
                const auto* dl = dynamic_cast<const engine::DenseLinear*>(l->get());
                if (dl && dl->bias()) return true;
            }
            return false;
        }();
        first_layer.reset();
        if (!opt.layer_formats.empty() && static_cast<int>(opt.layer_formats.size()) != L)
            fail(kWhere, "layer_formats has " + std::to_string(opt.layer_formats.size()) + " entries for " +
                             std::to_string(L) + " layers");
        layouts.clear();
        layer_off.assign(1, 0);
        weight_bytes = 0;
        for (int l = 0; l < L; ++l) {
            layouts.push_back(opt.layer_formats.empty() ? make_layer_layout(cfg, qkv_bias, opt.quant, wdt, sdt)
                                                        : make_layer_layout(cfg, qkv_bias, opt.layer_formats[l], wdt, sdt));
            layer_off.push_back(layer_off.back() + layouts.back().bytes);
            max_bytes = std::max(max_bytes, layouts.back().bytes);
            weight_bytes += layouts.back().read_bytes();
        }
        layout = layouts.front();
        size_t off = 0;
        head_slot = make_linear_slot(V, H, false, head_format(), wdt, sdt, off);
        weight_bytes += head_slot.read_bytes();

        place();
        upload(src);
        describe_setup();
    }

    std::optional<quant::QuantFormat> head_format() const {
        if (!opt.layer_formats.empty())
            return opt.lm_head_format && !opt.lm_head_format->is_float() ? opt.lm_head_format : std::nullopt;
        return opt.quantize_lm_head ? opt.quant : std::nullopt;
    }

    uint64_t kv_bytes_per_layer() const { return static_cast<uint64_t>(cap) * 2 * KV * dsize(act); }
    uint64_t embed_bytes() const { return static_cast<uint64_t>(V) * H * dsize(wdt); }
    uint64_t activation_bytes() const {
        const uint64_t es = dsize(act);
        const uint64_t per_tok = static_cast<uint64_t>(H) * 8 + (H + QKV + Q + 3 * I) * es +
                                 (act == wdt ? 0 : static_cast<uint64_t>(std::max({H, Q, I})) * dsize(wdt)) + 4;
        return per_tok * chunk + ws_floats * 4 + dequant_scratch_bytes();
    }

    /// Bytes of the dense scratch for the largest quantized linear in the activation dtype (0 when not used).
    uint64_t dequant_scratch_bytes() const {
        if (chunk < kDequantGemmRows) return 0;
        uint64_t most = 0;
        auto consider = [&](const LinearSlot& sl) {
            if (sl.quantized) most = std::max<uint64_t>(most, static_cast<uint64_t>(sl.n) * sl.k * dsize(act));
        };
        for (const auto& lay : layouts)
            for (const LinearSlot* sl : {&lay.qkv, &lay.o, &lay.gate_up, &lay.down}) consider(*sl);
        consider(head_slot);
        return most <= kMaxDequantScratch ? most : 0;
    }

    void place() {
        using score::MemoryMode;
        auto devs = list_devices();
        MemoryMode mode = opt.mode;
        if (mode == MemoryMode::Offload) fail(kWhere, "offload is a CPU mode; use full, low_memory or multi_gpu");
        auto check_dev = [&](int dev) {
            if (dev < 0 || dev >= static_cast<int>(devs.size()))
                fail(kWhere, "cuda:" + std::to_string(dev) + " does not exist (" + std::to_string(devs.size()) + " devices)");
        };
        const uint64_t per_layer = max_bytes + kv_bytes_per_layer();  // placement budgets the largest layer
        const uint64_t heads = embed_bytes() + (head_slot.quantized || !cfg.tie_word_embeddings ? head_slot.read_bytes() : 0);
        if (mode == MemoryMode::Auto) {
            check_dev(opt.device);
            const uint64_t need = static_cast<uint64_t>(L) * per_layer + heads + activation_bytes();
            mode = need <= devs[opt.device].free_bytes * 85 / 100 ? MemoryMode::Full : MemoryMode::LowMemory;
            log(std::string("CudaDecoder: memory mode auto-selected: ") + score::memory_mode_name(mode) + " (free=" +
                score::format_bytes(devs[opt.device].free_bytes) + ", needed=" + score::format_bytes(need) + ")");
        }
        opt.mode = mode;
        if (mode == MemoryMode::Full || mode == MemoryMode::LowMemory) {
            check_dev(opt.device);
            counts = {L};
            parts.resize(1);
            parts[0].device = opt.device;
            parts[0].count = L;
            return;
        }
        // multi_gpu
        std::vector<int> ids = opt.devices;
        if (ids.empty())
            for (const auto& dv : devs) ids.push_back(dv.index);
        for (int dev : ids) check_dev(dev);
        std::vector<uint64_t> budgets = opt.device_budgets;
        if (budgets.empty()) {
            std::map<int, int> uses;
            for (int dev : ids) ++uses[dev];
            for (int dev : ids) budgets.push_back(devs[dev].free_bytes * 85 / 100 / uses[dev]);
        }
        if (budgets.size() != ids.size()) fail(kWhere, "device_budgets needs one entry per device");
        const uint64_t acts = activation_bytes();
        if (!opt.layer_split.empty()) {
            int sum = 0;
            for (int c : opt.layer_split) sum += c < 0 ? -(1 << 30) : c;
            if (opt.layer_split.size() != ids.size() || sum != L)
                fail(kWhere, "layer_split needs one count >= 0 per device, summing to " + std::to_string(L));
            counts = opt.layer_split;
        } else {
            counts = score::place_layers(budgets, L, per_layer, embed_bytes() + acts,
                                         head_slot.read_bytes() + static_cast<uint64_t>(kLogitRows) * V * 4 + acts);
        }
        parts.resize(counts.size());
        int first = 0;
        std::string line = "CudaDecoder multi_gpu:";
        for (size_t i = 0; i < counts.size(); ++i) {
            parts[i].device = ids[i];
            parts[i].first = first;
            parts[i].count = counts[i];
            line += " cuda:" + std::to_string(ids[i]) + " layers " +
                    (counts[i] ? std::to_string(first) + "-" + std::to_string(first + counts[i] - 1) : std::string("none")) +
                    " (" + std::to_string(counts[i]) + ")" + (i + 1 < counts.size() ? "," : "");
            first += counts[i];
        }
        log(line);
    }

    void upload(engine::Transformer& src) {
        const bool low = opt.mode == score::MemoryMode::LowMemory;
        const bool tied = src.model().layout().tied_embeddings;
        head_in_embed = tied && !head_slot.quantized && parts.size() == 1;
        // fp32 norms of every layer (+ final) on every part: [L][input H | post H | q_norm d | k_norm d] + final H
        std::vector<float> norms(norm_stride * L + H, 0.0f);
        // Layer images: straight to pinned memory (low_memory) or through a pinned staging buffer.
        PinnedBuffer staging;
        if (low) host_layers.allocate(layer_off[L]);
        else staging.allocate(max_bytes);
        for (auto& p : parts) {
            DeviceGuard g(p.device);
            p.compute = std::make_unique<Stream>();
            p.copy = std::make_unique<Stream>();
            p.cublas = std::make_unique<CublasHandle>();
            p.done = std::make_unique<Event>();
            for (int s = 0; s < 2; ++s) {
                p.loaded[s] = std::make_unique<Event>();
                p.freed[s] = std::make_unique<Event>();
            }
            if (low) p.slots.allocate(max_bytes * 2);
            else p.layers.allocate(layer_off[p.first + p.count] - layer_off[p.first]);
            p.kv.allocate(kv_bytes_per_layer() * static_cast<size_t>(p.count));
        }
        for (int l = 0; l < L; ++l) {
            auto w = src.layer(l);
            float* nr = norms.data() + norm_stride * l;
            std::memcpy(nr, w->input_norm.data(), sizeof(float) * H);
            std::memcpy(nr + H, w->post_norm.data(), sizeof(float) * H);
            if (cfg.qk_norm) {
                std::memcpy(nr + 2 * H, w->q_norm.data(), sizeof(float) * d);
                std::memcpy(nr + 2 * H + d, w->k_norm.data(), sizeof(float) * d);
            }
            if (low) {
                write_layer_image(*w, layouts[l], host_layers.as<uint8_t>() + layer_off[l]);
                continue;
            }
            write_layer_image(*w, layouts[l], staging.as<uint8_t>());
            for (auto& p : parts) {
                if (l < p.first || l >= p.first + p.count) continue;
                DeviceGuard g(p.device);
                ck(cudaMemcpy(at<uint8_t>(p.layers, layer_off[l] - layer_off[p.first]), staging.data(), layouts[l].bytes,
                              cudaMemcpyHostToDevice),
                   "upload layer");
            }
        }
        {
            const auto final_norm = src.rotation() ? std::vector<float>(H, 1.0f)
                                                   : src.model().weights().read_f32(io::TensorNames::final_norm());
            std::memcpy(norms.data() + norm_stride * L, final_norm.data(), sizeof(float) * H);
        }
        const auto inv_freq = engine::Rope(cfg).inv_freq();
        for (auto& p : parts) {
            DeviceGuard g(p.device);
            p.norms.allocate(norms.size() * 4);
            p.norms.upload(norms.data(), norms.size() * 4);
            p.inv_freq.allocate(inv_freq.size() * 4);
            p.inv_freq.upload(inv_freq.data(), inv_freq.size() * 4);
            const size_t es = dsize(act), T = static_cast<size_t>(chunk);
            p.residual.allocate(T * H * 4);
            p.x.allocate(T * H * es);
            p.qkv.allocate(T * QKV * es);
            p.attn.allocate(T * Q * es);
            p.delta.allocate(T * H * 4);
            if (const uint64_t wd = dequant_scratch_bytes()) p.wdense.allocate(wd);
            p.gu.allocate(T * 2 * I * es);
            p.act.allocate(T * I * es);
            if (act != wdt) p.xcast.allocate(T * std::max({H, Q, I}) * dsize(wdt));
            p.attn_ws.allocate(ws_floats * 4);
        }
        // Embedding table on the first part, lm_head on the last.
        {
            auto table = src.current_matrix(io::TensorNames::embed());
            Part& p = parts.front();
            DeviceGuard g(p.device);
            std::vector<uint8_t> bytes(embed_bytes());
            io::convert_from_f32(wdt, table->data(), bytes.data(), static_cast<size_t>(V) * H);
            p.embed.allocate(bytes.size());
            p.embed.upload(bytes.data(), bytes.size());
            p.ids.allocate(static_cast<size_t>(chunk) * 4);
        }
        {
            Part& p = parts.back();
            DeviceGuard g(p.device);
            if (!head_in_embed) {
                auto lm = src.current_matrix(io::TensorNames::lm_head());
                size_t off = 0;
                head_slot = make_linear_slot(V, H, false, head_format(), wdt, sdt, off);
                std::vector<uint8_t> img(off);
                write_linear(lm->data(), nullptr, head_slot, img.data());
                p.head.allocate(img.size());
                p.head.upload(img.data(), img.size());
            }
            p.logits.allocate(static_cast<size_t>(std::min(chunk, kLogitRows)) * V * 4);
        }
        host_ids.allocate(static_cast<size_t>(chunk) * 4);
        host_pos.allocate(16);
        {
            DeviceGuard g(parts.front().device);
            pos_dev.allocate(16);
        }
        host_logits.allocate(static_cast<size_t>(std::min(chunk, kLogitRows)) * V * 4);
    }

    void describe_setup() {
        const auto& p0 = parts.front();
        std::string w = opt.quant ? opt.quant->name() + " (scales " + io::dtype_name(sdt) + ")" : std::string(io::dtype_name(wdt));
        if (!opt.layer_formats.empty()) {
            int q4 = 0, q8 = 0, dense = 0;
            for (const auto& lay : layouts)
                for (const LinearSlot* sl : {&lay.qkv, &lay.o, &lay.gate_up, &lay.down})
                    (sl->quantized ? (sl->format.bits == 4 ? q4 : q8) : dense)++;
            w = "per-layer plan (" + std::to_string(q4) + " int4, " + std::to_string(q8) + " int8, " +
                std::to_string(dense) + " " + io::dtype_name(wdt) + " linears; scales " + io::dtype_name(sdt) + ")";
        }
        std::string head = head_slot.quantized ? head_slot.format.name() : std::string(io::dtype_name(wdt));
        description = "cuda:" + std::to_string(p0.device) + " " + score::memory_mode_name(opt.mode) + ", weights " + w +
                      " + lm_head " + head + ", activations " + io::dtype_name(act) + ", KV cache " +
                      std::to_string(cap) + " positions, " + mib(weight_bytes) + " of weights read per token";
        log("CudaDecoder: " + description);
    }

    // ------------------------------------------------------------------ forward
    const uint8_t* image(Part& p, int l) const {
        if (opt.mode == score::MemoryMode::LowMemory) return at<uint8_t>(p.slots, max_bytes * static_cast<size_t>(l % 2));
        return at<uint8_t>(p.layers, layer_off[l] - layer_off[p.first]);
    }

    void prefetch(Part& p, int l) {
        if (l >= p.first + p.count || l >= run_end) return;
        const int slot = l % 2;
        if (p.slot_layer[slot] == l) return;  // still there from the previous run (scoring runs one layer at a time)
        p.slot_layer[slot] = l;
        cudaStream_t cs = p.copy->get();
        ck(cudaStreamWaitEvent(cs, p.freed[slot]->get(), 0), "wait slot");
        ck(cudaMemcpyAsync(at<uint8_t>(p.slots, max_bytes * static_cast<size_t>(slot)),
                           host_layers.as<uint8_t>() + layer_off[l], layouts[l].bytes,
                           cudaMemcpyHostToDevice, cs),
           "stream layer");
        p.loaded[slot]->record(cs);
    }

    /// y = x·Wᵀ (+bias) for `rows` rows; y in y_dt (act or F32).
    void linear(Part& p, const LinearSlot& s, const uint8_t* base, const void* x, void* y, io::DType y_dt, int rows) {
        cudaStream_t st = p.compute->get();
        const float* bias = s.has_bias ? reinterpret_cast<const float*>(base + s.bias_off) : nullptr;
        if (s.quantized) {
            NBitsMatrix w;
            w.packed = base + s.weight_off;
            w.scales = base + s.scale_off;
            w.scale_dt = s.dtype;
            w.zero_points = s.zp_bytes ? base + s.zp_off : nullptr;
            w.n = s.n;
            w.k = s.k;
            w.bits = s.format.bits;
            w.block_size = s.format.block_size;
            if (rows < kDequantGemmRows || p.wdense.bytes() < static_cast<size_t>(s.n) * s.k * dsize(act)) {
                ck(nbits_matmul(x, act, w, bias, y, y_dt, rows, st), "nbits_matmul");
                return;
            }
            ck(nbits_dequantize(w, p.wdense.data(), act, st), "nbits_dequantize");
            check_cublas(gemm_wt(p.cublas->get(), x, p.wdense.data(), act, y, y_dt, rows, static_cast<int>(s.n),
                                 static_cast<int>(s.k), st),
                         std::string(kWhere) + ": gemm (dequantized)");
            if (bias) ck(add_bias(y, y_dt, bias, rows, static_cast<int>(s.n), s.n, st), "add_bias");
            return;
        }
        const void* xin = x;
        if (s.dtype != act) {
            ck(convert(x, act, p.xcast.data(), s.dtype, static_cast<int64_t>(rows) * s.k, st), "convert");
            xin = p.xcast.data();
        }
        check_cublas(gemm_wt(p.cublas->get(), xin, base + s.weight_off, s.dtype, y, y_dt, rows, static_cast<int>(s.n),
                             static_cast<int>(s.k), st),
                     std::string(kWhere) + ": gemm");
        if (bias) ck(add_bias(y, y_dt, bias, rows, static_cast<int>(s.n), s.n, st), "add_bias");
    }

    void tap(const void* src, void* dst, int n, int width, cudaStream_t s) {
        if (dst) ck(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * width * dsize(act), cudaMemcpyDeviceToDevice, s), "tap");
    }

    void run_layer(Part& p, int l, int n, int pos0, bool& x_ready, const uint8_t* override_image = nullptr,
                   const CudaDecoder::LayerTaps* taps = nullptr) {
        cudaStream_t s = p.compute->get();
        const bool low = opt.mode == score::MemoryMode::LowMemory;
        if (low) ck(cudaStreamWaitEvent(s, p.loaded[l % 2]->get(), 0), "wait layer");
        const uint8_t* base = override_image ? override_image : image(p, l);
        const float* nr = p.norms.as<float>() + norm_stride * l;
        const size_t es = dsize(act);
        tick("input_norm", s);
        if (!x_ready) ck(rms_norm(p.residual.data(), io::DType::F32, nr, p.x.data(), act, n, H, eps, s), "input norm");
        if (taps) tap(p.x.data(), taps->attn_in, n, H, s);
        tick("qkv", s);
        const LayerLayout& lay = layouts[l];
        linear(p, lay.qkv, base, p.x.data(), p.qkv.data(), act, n);
        tick("qk_norm+rope+kv_write", s);
        if (cfg.qk_norm) {
            ck(rms_norm(p.qkv.data(), act, nr + 2 * H, p.qkv.data(), act, n * nh, d, eps, s, nh, QKV), "q norm");
            ck(rms_norm(at<char>(p.qkv, Q * es), act, nr + 2 * H + d, at<char>(p.qkv, Q * es), act, n * nkv, d, eps, s,
                        nkv, QKV),
               "k norm");
        }
        ck(rope(p.qkv.data(), act, n, nh + nkv, d, QKV, pos0, p.inv_freq.as<float>(), s, cur_pos_dev), "rope");
        char* kv = at<char>(p.kv, kv_bytes_per_layer() * static_cast<size_t>(l - p.first));
        const size_t kv_row = 2 * static_cast<size_t>(KV) * es;
        if (cur_pos_dev)  // graph capture: the row index is read on the device
            ck(kv_store(at<char>(p.qkv, Q * es), kv, static_cast<int64_t>(kv_row), 0, cur_pos_dev, s), "kv cache write");
        else
            ck(cudaMemcpy2DAsync(kv + kv_row * pos0, kv_row, at<char>(p.qkv, Q * es), QKV * es, kv_row, n,
                                 cudaMemcpyDeviceToDevice, s),
               "kv cache write");
        const char* kc = kv;
        const char* vc = kv + KV * es;
        tick("attention", s);
        if (n == 1)
            ck(attention_decode(p.qkv.data(), kc, vc, 2 * KV, p.attn.data(), cur_pos_dev ? cap - 1 : pos0, nh, nkv, d, act,
                                p.attn_ws.as<float>(), ws_floats, s, cur_pos_dev),
               "attention (decode)");
        else
            ck(attention_prefill(p.qkv.data(), QKV, kc, vc, 2 * KV, p.attn.data(), Q, n, pos0, nh, nkv, d, act, s),
               "attention (prefill)");
        if (taps) tap(p.attn.data(), taps->o_in, n, Q, s);
        tick("o", s);
        linear(p, lay.o, base, p.attn.data(), p.delta.data(), io::DType::F32, n);
        tick("add+norm", s);
        ck(add_rms_norm(p.residual.as<float>(), p.delta.data(), io::DType::F32, nr + H, p.x.data(), act, n, H, eps, s),
           "post norm");
        if (taps) tap(p.x.data(), taps->mlp_in, n, H, s);
        tick("gate_up", s);
        linear(p, lay.gate_up, base, p.x.data(), p.gu.data(), act, n);
        tick("silu_mul", s);
        ck(silu_mul(p.gu.data(), at<char>(p.gu, static_cast<size_t>(I) * es), 2 * I, p.act.data(), I, n, I, act, s),
           "silu_mul");
        if (taps) tap(p.act.data(), taps->down_in, n, I, s);
        tick("down", s);
        linear(p, lay.down, base, p.act.data(), p.delta.data(), io::DType::F32, n);
        tick("add+norm", s);
        const float* next = nullptr;
        if (l + 1 < p.first + p.count) next = nr + norm_stride;          // next layer's input norm
        else if (l + 1 == L) next = p.norms.as<float>() + norm_stride * L;  // final norm
        ck(add_rms_norm(p.residual.as<float>(), p.delta.data(), io::DType::F32, next, next ? p.x.data() : nullptr, act, n,
                        H, eps, s),
           "residual");
        x_ready = next != nullptr;
        if (low) {
            p.freed[l % 2]->record(s);
            prefetch(p, l + 2);
        }
    }

    /// Runs n tokens at positions pos0.. through every layer; leaves the final-norm rows in the last part's x.
    void run_chunk(const int* ids, int n, int pos0) {
        run_end = L;
        {
            Part& p0 = parts.front();
            DeviceGuard g(p0.device);
            p0.compute->synchronize();  // host_ids may still feed the previous chunk's copy
            std::memcpy(host_ids.data(), ids, static_cast<size_t>(n) * 4);
            ck(cudaMemcpyAsync(p0.ids.data(), host_ids.data(), static_cast<size_t>(n) * 4, cudaMemcpyHostToDevice,
                               p0.compute->get()),
               "ids");
            tick("embedding", p0.compute->get());
            ck(embed_rows(p0.embed.data(), wdt, p0.ids.as<int>(), n, H, p0.residual.as<float>(), p0.compute->get()),
               "embedding");
        }
        bool x_ready = false;
        for (size_t pi = 0; pi < parts.size(); ++pi) {
            Part& p = parts[pi];
            if (pi > 0) {
                Part& prev = parts[pi - 1];
                {
                    DeviceGuard g(prev.device);
                    prev.done->record(prev.compute->get());
                }
                DeviceGuard g(p.device);
                ck(cudaStreamWaitEvent(p.compute->get(), prev.done->get(), 0), "wait boundary");
                ck(cudaMemcpyPeerAsync(p.residual.data(), p.device, prev.residual.data(), prev.device,
                                       static_cast<size_t>(n) * H * 4, p.compute->get()),
                   "hidden state to the next device");
                x_ready = false;
            }
            DeviceGuard g(p.device);
            if (opt.mode == score::MemoryMode::LowMemory) {
                prefetch(p, p.first);
                prefetch(p, p.first + 1);
            }
            for (int l = p.first; l < p.first + p.count; ++l) run_layer(p, l, n, pos0, x_ready);
        }
        Part& last = parts.back();
        DeviceGuard g(last.device);
        if (!x_ready)  // the last part ran no layer (or the last layer was elsewhere): apply the final norm here
            ck(rms_norm(last.residual.data(), io::DType::F32, last.norms.as<float>() + norm_stride * L, last.x.data(), act,
                        n, H, eps, last.compute->get()),
               "final norm");
        if (parts.size() > 1)
            for (auto& p : parts) {
                DeviceGuard gp(p.device);
                p.compute->synchronize();  // the next chunk may overwrite residual buffers a peer copy reads
            }
    }

    /// Logits of rows [r0, r0 + rows) of the last part's x into out rows [o0, o0 + rows).
    void logits(int r0, int rows, engine::RowMatrix& out, int o0) {
        Part& p = parts.back();
        DeviceGuard g(p.device);
        const uint8_t* base = head_in_embed ? static_cast<const uint8_t*>(parts.front().embed.data())
                                            : static_cast<const uint8_t*>(p.head.data());
        const size_t es = dsize(act);
        for (int r = 0; r < rows; r += kLogitRows) {
            const int m = std::min(kLogitRows, rows - r);
            tick("lm_head", p.compute->get());
            linear(p, head_slot, base, at<char>(p.x, static_cast<size_t>(r0 + r) * H * es), p.logits.data(),
                   io::DType::F32, m);
            tick("logits_to_host", p.compute->get());
            ck(cudaMemcpyAsync(host_logits.data(), p.logits.data(), static_cast<size_t>(m) * V * 4,
                               cudaMemcpyDeviceToHost, p.compute->get()),
               "logits");
            collect_ticks(p.compute->get());
            p.compute->synchronize();
            std::memcpy(out.row(o0 + r).data(), host_logits.data(), static_cast<size_t>(m) * V * 4);
        }
    }

    engine::RowMatrix run(const std::vector<int>& ids, bool all) {
        if (ids.empty()) fail("input ids", "empty sequence");
        for (int id : ids)
            if (id < 0 || id >= V)
                fail("input ids", "token id " + std::to_string(id) + " is outside the vocabulary (size " +
                                      std::to_string(V) + ")");
        const int T = static_cast<int>(ids.size());
        if (length + T > cap)
            fail("kv cache", "sequence of " + std::to_string(length + T) + " positions exceeds the cache capacity " +
                                 std::to_string(cap));
        engine::RowMatrix out(all ? T : 1, V);
        if (T == 1 && decode_graph(ids[0], out.row(0).data())) {
            ++length;
            return out;
        }
        for (int c0 = 0; c0 < T; c0 += chunk) {
            const int n = std::min(chunk, T - c0);
            run_chunk(ids.data() + c0, n, length);
            length += n;
            if (all) logits(0, n, out, c0);
            else if (c0 + n == T) logits(n - 1, 1, out, 0);
        }
        return out;
    }

    // ------------------------------------------------------------------ decode graph
    bool graph_eligible() const {
        return opt.cuda_graphs && !graph_broken && !timing && parts.size() == 1 &&
               opt.mode == score::MemoryMode::Full;
    }

    /// One decode step (token `id` at position `length`) through the captured graph, logits into out_row (V
    /// floats); false when graphs are off or capture failed (the caller then launches the kernels itself).
    bool decode_graph(int id, float* out_row) {
        if (!graph_eligible()) return false;
        Part& p = parts.front();
        DeviceGuard g(p.device);
        p.compute->synchronize();  // host_ids / host_pos may still feed the previous step
        host_ids.as<int>()[0] = id;
        host_pos.as<int>()[0] = length;
        if (!graph_exec && !capture_decode_graph(p)) return false;
        ck(cudaGraphLaunch(graph_exec, p.compute->get()), "graph launch");
        p.compute->synchronize();
        std::memcpy(out_row, host_logits.data(), static_cast<size_t>(V) * 4);
        return true;
    }

    bool capture_decode_graph(Part& p) {
        cudaStream_t s = p.compute->get();
        cudaGraph_t graph = nullptr;
        try {
            ck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin graph capture");
            cur_pos_dev = pos_dev.as<int>();
            ck(cudaMemcpyAsync(p.ids.data(), host_ids.data(), 4, cudaMemcpyHostToDevice, s), "ids");
            ck(cudaMemcpyAsync(pos_dev.data(), host_pos.data(), 4, cudaMemcpyHostToDevice, s), "position");
            ck(embed_rows(p.embed.data(), wdt, p.ids.as<int>(), 1, H, p.residual.as<float>(), s), "embedding");
            bool x_ready = false;
            for (int l = 0; l < L; ++l) run_layer(p, l, 1, 0, x_ready);
            if (!x_ready)
                ck(rms_norm(p.residual.data(), io::DType::F32, p.norms.as<float>() + norm_stride * L, p.x.data(), act, 1,
                            H, eps, s),
                   "final norm");
            const uint8_t* head = head_in_embed ? static_cast<const uint8_t*>(p.embed.data())
                                                : static_cast<const uint8_t*>(p.head.data());
            linear(p, head_slot, head, p.x.data(), p.logits.data(), io::DType::F32, 1);
            ck(cudaMemcpyAsync(host_logits.data(), p.logits.data(), static_cast<size_t>(V) * 4, cudaMemcpyDeviceToHost, s),
               "logits");
            cur_pos_dev = nullptr;
            ck(cudaStreamEndCapture(s, &graph), "end graph capture");
            ck(cudaGraphInstantiate(&graph_exec, graph, 0), "instantiate graph");
            size_t nodes = 0;
            cudaGraphGetNodes(graph, nullptr, &nodes);
            cudaGraphDestroy(graph);
            log("CudaDecoder: decode steps replay a CUDA graph (" + std::to_string(nodes) + " nodes)");
            return true;
        } catch (const std::exception& e) {
            cur_pos_dev = nullptr;
            cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
            if (cudaStreamIsCapturing(s, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
                cudaGraph_t partial = nullptr;
                cudaStreamEndCapture(s, &partial);
                if (partial) cudaGraphDestroy(partial);
            }
            if (graph) cudaGraphDestroy(graph);
            if (graph_exec) cudaGraphExecDestroy(graph_exec);
            graph_exec = nullptr;
            cudaGetLastError();  // clear a sticky capture error
            graph_broken = true;
            log(std::string("CudaDecoder: CUDA graph capture failed (") + e.what() + "); decode steps launch kernels directly");
            return false;
        }
    }

    // ------------------------------------------------------------------ scorer building blocks
    int active_part = -1;  // the part the last building block (or the caller, through use_part) enqueued work on

    /// Makes part pi the active one; when another part was active, waits for its compute stream first, so work
    /// enqueued on pi sees everything enqueued before on the other part (one part: never waits).
    Part& use(int pi) {
        if (pi < 0 || pi >= static_cast<int>(parts.size()))
            fail(kWhere, "no part " + std::to_string(pi) + " (" + std::to_string(parts.size()) + " parts)");
        if (active_part >= 0 && active_part != pi) {
            Part& prev = parts[static_cast<size_t>(active_part)];
            DeviceGuard g(prev.device);
            prev.compute->synchronize();
        }
        active_part = pi;
        return parts[static_cast<size_t>(pi)];
    }
    int part_of(int l) const {
        for (size_t i = 0; i < parts.size(); ++i)
            if (l >= parts[i].first && l < parts[i].first + parts[i].count) return static_cast<int>(i);
        fail(kWhere, "no part holds layer " + std::to_string(l));
    }
    int last_part() const { return static_cast<int>(parts.size()) - 1; }
    void check_rows(int n) const {
        if (n < 1 || n > chunk)
            fail(kWhere, "scoring sequence of " + std::to_string(n) + " tokens exceeds max_chunk_tokens " +
                             std::to_string(chunk));
    }

    void embed_residual(const std::vector<int>& ids, const void* table) {
        Part& p = use(0);
        const int n = static_cast<int>(ids.size());
        check_rows(n);
        for (int id : ids)
            if (id < 0 || id >= V) fail("input ids", "token id " + std::to_string(id) + " is outside the vocabulary");
        DeviceGuard g(p.device);
        p.compute->synchronize();
        std::memcpy(host_ids.data(), ids.data(), static_cast<size_t>(n) * 4);
        ck(cudaMemcpyAsync(p.ids.data(), host_ids.data(), static_cast<size_t>(n) * 4, cudaMemcpyHostToDevice,
                           p.compute->get()),
           "ids");
        ck(embed_rows(table ? table : p.embed.data(), wdt, p.ids.as<int>(), n, H, p.residual.as<float>(), p.compute->get()),
           "embedding");
    }

    void copy_residual(int part, void* dst, const void* src, int n) {
        Part& p = use(part);
        check_rows(n);
        DeviceGuard g(p.device);
        ck(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * H * 4, cudaMemcpyDefault, p.compute->get()), "residual copy");
    }

    void run_layers(int first, int last, int n, const void* first_image, const CudaDecoder::LayerTaps* taps) {
        check_rows(n);
        if (first < 0 || last > L || first >= last) fail(kWhere, "run_layers: bad layer range");
        Part& p = use(part_of(first));
        if (last > p.first + p.count)
            fail(kWhere, "run_layers: layers " + std::to_string(first) + "-" + std::to_string(last - 1) +
                             " are on more than one device");
        DeviceGuard g(p.device);
        run_end = last;
        if (opt.mode == score::MemoryMode::LowMemory) {
            prefetch(p, first);
            prefetch(p, first + 1);
        }
        bool x_ready = false;
        for (int l = first; l < last; ++l)
            run_layer(p, l, n, 0, x_ready, l == first ? static_cast<const uint8_t*>(first_image) : nullptr,
                      l == first ? taps : nullptr);
    }

    void final_norm(int n, void* dst, io::DType dt) {
        Part& p = use(last_part());
        check_rows(n);
        DeviceGuard g(p.device);
        ck(rms_norm(p.residual.data(), io::DType::F32, p.norms.as<float>() + norm_stride * L, dst, dt, n, H, eps,
                    p.compute->get()),
           "final norm");
    }

    void logits_device(int n, float* out, const void* head) {
        Part& p = use(last_part());
        final_norm(n, p.x.data(), act);
        DeviceGuard g(p.device);
        LinearSlot s = head_slot;
        const uint8_t* base = head_in_embed ? static_cast<const uint8_t*>(p.embed.data())
                                            : static_cast<const uint8_t*>(p.head.data());
        if (head) {
            s = LinearSlot{};
            s.n = V;
            s.k = H;
            s.dtype = wdt;
            base = static_cast<const uint8_t*>(head);
        }
        linear(p, s, base, p.x.data(), out, io::DType::F32, n);
    }
};

CudaDecoder::CudaDecoder(engine::Transformer& source, CudaDecoderOptions opt) : m(std::make_unique<Impl>()) {
    m->init(source, std::move(opt));
}

CudaDecoder::CudaDecoder(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt) : m(std::make_unique<Impl>()) {
    engine::Transformer tf(std::move(model), engine::EngineOptions{false, nullptr});
    m->init(tf, std::move(opt));
}

CudaDecoder::~CudaDecoder() = default;

const io::ModelConfig& CudaDecoder::config() const { return m->cfg; }
engine::RowMatrix CudaDecoder::forward(const std::vector<int>& ids) { return m->run(ids, true); }
engine::RowMatrix CudaDecoder::forward_last(const std::vector<int>& ids) { return m->run(ids, false); }
void CudaDecoder::reset() { m->length = 0; }
void CudaDecoder::truncate(int n) {
    if (n < 0 || n > m->length)
        fail(kWhere, "truncate to " + std::to_string(n) + " positions of " + std::to_string(m->length));
    m->length = n;
}
int CudaDecoder::length() const { return m->length; }
void CudaDecoder::set_cuda_graphs(bool on) { m->opt.cuda_graphs = on; }
bool CudaDecoder::decode_graph_active() const { return m->graph_exec != nullptr && m->graph_eligible(); }
void CudaDecoder::set_op_timing(bool on) {
    if (on && m->parts.size() != 1) fail(kWhere, "op timing needs a single-device decoder");
    m->timing = on;
    m->ticks = 0;
    m->op_ms.clear();
}
std::map<std::string, double> CudaDecoder::op_times() const { return m->op_ms; }
int CudaDecoder::capacity() const { return m->cap; }
uint64_t CudaDecoder::weight_bytes_per_token() const { return m->weight_bytes; }
const std::vector<int>& CudaDecoder::layers_per_device() const { return m->counts; }
std::string CudaDecoder::describe() const { return m->description; }

int CudaDecoder::device() const { return m->parts.front().device; }
int CudaDecoder::parts() const { return static_cast<int>(m->parts.size()); }
int CudaDecoder::part_of_layer(int l) const { return m->part_of(l); }
int CudaDecoder::part_device(int part) const { return m->parts.at(static_cast<size_t>(part)).device; }
void* CudaDecoder::stream(int part) const { return m->parts.at(static_cast<size_t>(part)).compute->get(); }
void* CudaDecoder::cublas(int part) const { return m->parts.at(static_cast<size_t>(part)).cublas->get(); }
void CudaDecoder::use_part(int part) { m->use(part); }
const LayerLayout& CudaDecoder::layer_layout() const { return m->layout; }
io::DType CudaDecoder::weight_dtype() const { return m->wdt; }
io::DType CudaDecoder::activation_dtype() const { return m->act; }
const void* CudaDecoder::layer_image(int l) const {
    if (l < 0 || l >= m->L) fail(kWhere, "layer_image: no layer " + std::to_string(l));
    if (m->opt.mode == score::MemoryMode::LowMemory)
        return m->host_layers.as<uint8_t>() + m->layer_off[static_cast<size_t>(l)];
    const Part& p = m->parts[static_cast<size_t>(m->part_of(l))];
    return at<uint8_t>(p.layers, m->layer_off[static_cast<size_t>(l)] - m->layer_off[static_cast<size_t>(p.first)]);
}
void CudaDecoder::embed_residual(const std::vector<int>& ids, const void* table) { m->embed_residual(ids, table); }
void CudaDecoder::set_residual(const float* src, int n, int part) {
    m->copy_residual(part, m->parts.at(static_cast<size_t>(part)).residual.data(), src, n);
}
void CudaDecoder::get_residual(float* dst, int n, int part) {
    m->copy_residual(part, dst, m->parts.at(static_cast<size_t>(part)).residual.data(), n);
}
float* CudaDecoder::residual_device(int part) { return m->parts.at(static_cast<size_t>(part)).residual.as<float>(); }
void CudaDecoder::run_layers(int first, int last, int n, const void* first_image, const LayerTaps* taps) {
    m->run_layers(first, last, n, first_image, taps);
}
void CudaDecoder::logits_device(int n, float* out, const void* head) { m->logits_device(n, out, head); }
void CudaDecoder::final_norm_device(int n, float* dst) { m->final_norm(n, dst, io::DType::F32); }

}  // namespace mixq::gpu
