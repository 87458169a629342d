// SPDX-License-Identifier: MIT
// score_model_cuda: the reference pass caches every layer's input per sequence (device or pinned host memory) and,
// when they fit, the reference logits; each decoder layer's linear inputs are captured once; each unit × candidate
// becomes a variant image of its layer (RTN: fake-quantized on the device; k-quant: on the host with the captured
// activations as importance) that is run from that layer to the lm_head, compared with the fused KL kernel.
#include "gpu/cuda_scorer.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/engine/transformer.h"
#include "core/quant/quantizer.h"
#include "gpu/cublas_loader.h"
#include "gpu/cuda_decoder.h"
#include "gpu/cuda_resources.h"
#include "gpu/decoder_weights.h"
#include "gpu/dense_gemm.h"
#include "gpu/device_info.h"
#include "gpu/fake_quant.cuh"
#include "gpu/kl_div.cuh"

namespace mixq::gpu {
namespace {

using engine::RowMatrix;
using score::MemoryMode;

constexpr const char* kWhere = "CUDA scorer";

void ck(cudaError_t e, const char* what) { check_cuda(e, std::string(kWhere) + ": " + what); }
void cb(cublasStatus_t st, const char* what) { check_cublas(st, std::string(kWhere) + ": " + what); }

RowMatrix vcat(std::initializer_list<std::shared_ptr<const engine::Linear>> parts) {
    int64_t rows = 0, cols = 0;
    for (const auto& p : parts) {
        rows += p->out_features();
        cols = p->in_features();
    }
    RowMatrix out(rows, cols);
    int64_t r = 0;
    for (const auto& p : parts) {
        const auto& w = dynamic_cast<const engine::DenseLinear&>(*p).weight();
        out.middleRows(r, w.rows()) = w;
        r += w.rows();
    }
    return out;
}

/// A decoder part's scratch: the variant image and everything a layer's candidates need, on the part's device.
struct PartScratch {
    DeviceBuffer img, ref_img, y, yq, tmp_a, tmp_b;
    DeviceBuffer taps[4];  // attn_in, o_in, mlp_in, down_in: [tokens, width] fp32
};

class CudaScorer {
public:
    CudaScorer(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib, const score::ScoreOptions& opt,
               const JobContext& job, CudaScorerPlacement where)
        : m_model(std::move(model)), m_calib(calib), m_opt(opt), m_job(job), m_where(std::move(where)) {}

    score::ScoreTable run();

private:
    std::shared_ptr<const io::Model> m_model;
    const score::CalibrationSet& m_calib;
    const score::ScoreOptions& m_opt;
    const JobContext& m_job;
    CudaScorerPlacement m_where;

    score::ScoringSetup m_su;
    std::unique_ptr<engine::Transformer> m_tf;
    std::unique_ptr<CudaDecoder> m_dec;
    int L = 0, H = 0, V = 0, Q = 0, I = 0, m_maxT = 0;
    int m_last = 0;          // the decoder's last part (final norm, lm_head, logits)
    std::vector<int64_t> m_off;  // first token of each sequence in the flattened calibration set
    std::vector<int> m_len;

    bool m_cache_host = false;
    DeviceBuffer m_cache_dev;
    PinnedBuffer m_cache_pin;
    bool m_store_ref = false;
    std::vector<PartScratch> m_parts;
    DeviceBuffer m_hv;  // first part: variant hidden states of every sequence [tokens, hidden] fp32
    DeviceBuffer m_embed_q;  // first part, when its device is not the last part's: the candidate embedding table
    DeviceBuffer m_ref, m_ref_tmp, m_logits, m_kl, m_head_q;  // last part
    PinnedBuffer m_kl_host;
    int m_tap_width[4] = {0, 0, 0, 0};

    double m_work_total = 1, m_work_done = 0;
    std::string m_item;

    void step(double work) {
        m_work_done += work;
        m_job.report(m_work_done / m_work_total, "scoring", m_item);
    }
    int len(int s) const { return m_len[static_cast<size_t>(s)]; }
    int64_t off(int s) const { return m_off[static_cast<size_t>(s)]; }
    float* cache(int l, int s) {
        const size_t i = (static_cast<size_t>(l) * static_cast<size_t>(m_su.tokens) + static_cast<size_t>(off(s))) *
                         static_cast<size_t>(H);
        return (m_cache_host ? m_cache_pin.as<float>() : m_cache_dev.as<float>()) + i;
    }
    /// Makes `part` current for the scorer's own work (waiting for the previously used part, see
    /// CudaDecoder::use_part) and returns its stream.
    cudaStream_t on(int part) {
        m_dec->use_part(part);
        ck(cudaSetDevice(m_dec->part_device(part)), "select device");
        return static_cast<cudaStream_t>(m_dec->stream(part));
    }
    cublasHandle_t blas(int part) {
        const cudaStream_t st = on(part);
        const auto h = static_cast<cublasHandle_t>(m_dec->cublas(part));
        cb(cublas_set_stream(h, st), "set stream");
        return h;
    }
    /// A pointer on `part`'s device to cache(l, s) (copied into `tmp` when the cache is in host memory).
    const float* cache_on_device(int l, int s, DeviceBuffer& tmp, int part) {
        if (!m_cache_host) return cache(l, s);
        ck(cudaMemcpyAsync(tmp.data(), cache(l, s), static_cast<size_t>(len(s)) * H * 4, cudaMemcpyHostToDevice,
                           on(part)),
           "cache to device");
        return tmp.as<float>();
    }
    void sync_all() {
        for (int p = 0; p < m_dec->parts(); ++p)
            ck(cudaStreamSynchronize(static_cast<cudaStream_t>(m_dec->stream(p))), "synchronize");
    }

    float* hv(int s) { return m_hv.as<float>() + static_cast<size_t>(off(s)) * H; }
    /// Runs every sequence's hidden state in m_hv through layers [from, L), layer by layer (so low_memory streams
    /// each layer once; multi_gpu moves each sequence to the next device at a part boundary); `first_image` (on
    /// layer from's device) replaces layer from's weights.
    void propagate(int from, const void* first_image, double work_per_layer_seq) {
        for (int l = from; l < L; ++l) {
            const int p = m_dec->part_of_layer(l);
            for (int s = 0; s < m_su.nseq; ++s) {
                m_dec->set_residual(hv(s), len(s), p);
                m_dec->run_layers(l, l + 1, len(s), l == from ? first_image : nullptr);
                m_dec->get_residual(hv(s), len(s), p);
                step(work_per_layer_seq);
            }
        }
    }
    void setup();
    void allocate_scratch(int part, bool low_memory);
    void reference_pass();
    const float* ref_logits(int s);
    double kl_sum(const float* ref, const float* cand, int n);
    void capture_taps(int layer);
    std::vector<float> tap_importance(int layer, int kind_index);
    void score_layer(int layer, const std::vector<size_t>& units);
    void score_head_units(const std::vector<size_t>& units);
    void set_candidate(size_t u, size_t c, double kld_sum, double num, double den) {
        auto& cs = m_su.table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_su.tokens);
        cs.rel_err = den > 0 ? std::sqrt(num / den) : 0.0;
        engine::check_finite_value(cs.kld, m_model->dir().string(), engine::kld_step(m_su.table.units[u].name, cs.format.name()));
    }
    RowMatrix quantize_named(const std::string& what, const RowMatrix& w, const quant::QuantFormat& f,
                             const float* importance) const {
        try {
            return quant::fake_quantize(w, f, m_su.scale_dtype, importance, &m_job.token());
        } catch (const Error& e) {
            fail(m_model->dir().string(), what + ": " + e.what());
        }
    }
};

void CudaScorer::setup() {
    const auto& cfg = m_model->config();
    if (cfg.has_sliding_window())
        fail(m_model->dir().string(), "sliding-window attention (sliding_window " + std::to_string(cfg.sliding_window) +
                                          ") is not implemented by the CUDA scorer; use --device cpu");
    L = cfg.num_layers;
    H = cfg.hidden_size;
    V = cfg.vocab_size;
    Q = cfg.q_dim();
    I = cfg.intermediate_size;
    std::string why;
    const auto devs = list_devices(&why);
    if (devs.empty()) fail(kWhere, why.empty() ? "CUDA unavailable: no device" : why);
    auto check_dev = [&](int dev) {
        if (dev < 0 || dev >= static_cast<int>(devs.size()))
            fail(kWhere, "cuda:" + std::to_string(dev) + " does not exist (" + std::to_string(devs.size()) + " devices)");
    };
    check_dev(m_where.device);
    // The devices the memory decision weighs: the scoring device first, then the others (multi_gpu, or auto on a
    // machine with several GPUs); a device listed k times (parts sharing one GPU) offers each part 1/k of its free
    // memory.
    std::vector<int> ids = m_where.devices;
    if (ids.empty()) {
        ids.push_back(m_where.device);
        for (const auto& dv : devs)
            if (dv.index != m_where.device) ids.push_back(dv.index);
    }
    std::map<int, int> uses;
    for (int dev : ids) {
        check_dev(dev);
        ++uses[dev];
    }
    std::vector<uint64_t> device_free;
    for (int dev : ids) device_free.push_back(devs[static_cast<size_t>(dev)].free_bytes / static_cast<uint64_t>(uses[dev]));

    for (int s = 0; s < m_su.nseq; ++s) {
        m_off.push_back(s == 0 ? 0 : m_off.back() + m_len.back());
        m_len.push_back(static_cast<int>(m_calib.sequences[static_cast<size_t>(s)].size()));
        m_maxT = std::max(m_maxT, m_len.back());
    }
    const size_t tokens = static_cast<size_t>(m_su.tokens), T = static_cast<size_t>(m_maxT);

    auto& t = m_su.table;
    const score::MemoryDecision d =
        score::choose_memory_mode(m_opt.memory, m_su.footprint, score::host_available_memory(), device_free, L,
                                  static_cast<uint64_t>(m_su.largest_layer_params) * 4);
    t.memory_mode = score::memory_mode_name(d.mode);
    t.memory_reason = d.reason;
    m_job.log(d.reason);
    if (m_opt.on_placement) m_opt.on_placement("cuda", t.memory_mode, d.reason);
    const bool multi = d.mode == MemoryMode::MultiGpu;
    m_cache_host = d.mode == MemoryMode::Offload || multi;  // multi_gpu: one host cache that every device reads

    engine::EngineOptions eo;
    eo.resident = false;
    eo.rotation = score::make_rotation(m_model, m_opt, t, m_job);
    m_tf = std::make_unique<engine::Transformer>(m_model, eo);

    CudaDecoderOptions o;
    o.mode = d.mode == MemoryMode::Full ? MemoryMode::Full : multi ? MemoryMode::MultiGpu : MemoryMode::LowMemory;
    o.weight_dtype = io::DType::F32;
    o.activation_dtype = io::DType::F32;
    o.device = m_where.device;
    o.max_positions = m_maxT;
    o.max_chunk_tokens = m_maxT;
    o.log = [this](const std::string& line) { m_job.log(line); };
    if (multi) {
        // Whole layers per device by what is left of each device's share once the scorer's own buffers are on it
        // (every part may become the first or the last: each budget leaves room for the embedding and lm_head
        // scratch too).
        const uint64_t widths = static_cast<uint64_t>(2 * H + Q + I);
        const uint64_t max_n = static_cast<uint64_t>(std::max({Q + 2 * cfg.kv_dim(), 2 * I, H}));
        const uint64_t scratch = static_cast<uint64_t>(m_su.largest_layer_params) * 4 + tokens * widths * 4 +
                                 2 * T * max_n * 4 + 2 * T * static_cast<uint64_t>(H) * 4 +
                                 2 * static_cast<uint64_t>(V) * H * 4 + T * static_cast<uint64_t>(V) * 4 +
                                 tokens * static_cast<uint64_t>(H) * 4;
        o.devices = ids;
        o.layer_split = m_where.layer_split;
        for (uint64_t f : device_free) o.device_budgets.push_back(f * 85 / 100 > scratch ? f * 85 / 100 - scratch : 0);
    }
    m_dec = std::make_unique<CudaDecoder>(*m_tf, o);
    m_last = m_dec->parts() - 1;
    t.device.clear();
    for (int p = 0; p < m_dec->parts(); ++p) {
        const int dev = m_dec->part_device(p);
        t.device += (p ? " + " : "") + std::string("cuda:") + std::to_string(dev) + " (" +
                    devs[static_cast<size_t>(dev)].name + ")";
    }
    DeviceGuard g(m_dec->part_device(0));

    const size_t cache_bytes = static_cast<size_t>(L + 1) * tokens * H * 4;
    if (m_cache_host) m_cache_pin.allocate(cache_bytes);
    else m_cache_dev.allocate(cache_bytes);
    m_tap_width[0] = H;
    m_tap_width[1] = Q;
    m_tap_width[2] = H;
    m_tap_width[3] = I;
    m_parts.resize(static_cast<size_t>(m_dec->parts()));
    for (int p = 0; p < m_dec->parts(); ++p) allocate_scratch(p, o.mode == MemoryMode::LowMemory);
    m_hv.allocate(tokens * H * 4);
    if (m_dec->part_device(0) != m_dec->part_device(m_last)) m_embed_q.allocate(static_cast<size_t>(V) * H * 4);
    m_kl_host.allocate(T * 8);
    DeviceGuard gl(m_dec->part_device(m_last));
    m_logits.allocate(T * V * 4);
    m_kl.allocate(T * 8);
    m_head_q.allocate(static_cast<size_t>(V) * H * 4);
    size_t free_b = 0, total_b = 0;
    ck(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    const size_t ref_bytes = tokens * V * 4;
    m_store_ref = ref_bytes <= free_b / 2;
    if (m_store_ref) m_ref.allocate(ref_bytes);
    else m_ref_tmp.allocate(T * V * 4);
    m_job.log(std::string("CUDA scorer: ") + m_dec->describe() + "; hidden cache " + score::format_bytes(cache_bytes) +
              (m_cache_host ? " in pinned host memory" : " on the device") + "; reference logits " +
              (m_store_ref ? "kept (" + score::format_bytes(ref_bytes) + ")" : std::string("recomputed per use")));
}

void CudaScorer::allocate_scratch(int part, bool low_memory) {
    DeviceGuard g(m_dec->part_device(part));
    PartScratch& ps = m_parts[static_cast<size_t>(part)];
    const size_t tokens = static_cast<size_t>(m_su.tokens), T = static_cast<size_t>(m_maxT);
    ps.tmp_a.allocate(T * H * 4);
    ps.tmp_b.allocate(T * H * 4);
    if (m_dec->layers_per_device()[static_cast<size_t>(part)] == 0) return;  // no layer to score here
    const auto& lay = m_dec->layer_layout();
    const int64_t max_n = std::max({lay.qkv.n, lay.o.n, lay.gate_up.n, lay.down.n});
    for (int i = 0; i < 4; ++i) ps.taps[i].allocate(tokens * static_cast<size_t>(m_tap_width[i]) * 4);
    ps.y.allocate(T * static_cast<size_t>(max_n) * 4);
    ps.yq.allocate(T * static_cast<size_t>(max_n) * 4);
    ps.img.allocate(lay.bytes);
    if (low_memory) ps.ref_img.allocate(lay.bytes);
}

void CudaScorer::reference_pass() {
    for (int s = 0; s < m_su.nseq; ++s) {
        m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)]);
        m_dec->get_residual(cache(0, s), len(s), 0);
    }
    for (int l = 0; l < L; ++l) {  // layer-major: low_memory streams each layer once
        m_item = "reference pass, layer " + std::to_string(l);
        const int p = m_dec->part_of_layer(l);
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(l, s), len(s), p);
            m_dec->run_layers(l, l + 1, len(s));
            m_dec->get_residual(cache(l + 1, s), len(s), p);
            step(1);
        }
        sync_all();
    }
    if (m_store_ref)
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(L, s), len(s), m_last);
            m_dec->logits_device(len(s), m_ref.as<float>() + static_cast<size_t>(off(s)) * V);
        }
    sync_all();
}

const float* CudaScorer::ref_logits(int s) {
    if (m_store_ref) return m_ref.as<float>() + static_cast<size_t>(off(s)) * V;
    m_dec->set_residual(cache(L, s), len(s), m_last);
    m_dec->logits_device(len(s), m_ref_tmp.as<float>());
    return m_ref_tmp.as<float>();
}

double CudaScorer::kl_sum(const float* ref, const float* cand, int n) {
    const cudaStream_t st = on(m_last);
    ck(kl_rows(ref, cand, io::DType::F32, n, V, 0, m_kl.as<double>(), st), "kl_rows");
    ck(cudaMemcpyAsync(m_kl_host.data(), m_kl.data(), static_cast<size_t>(n) * 8, cudaMemcpyDeviceToHost, st), "kl");
    ck(cudaStreamSynchronize(st), "synchronize");
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += m_kl_host.as<double>()[r];
    return sum;
}

void CudaScorer::capture_taps(int layer) {
    const int p = m_dec->part_of_layer(layer);
    PartScratch& ps = m_parts[static_cast<size_t>(p)];
    for (int s = 0; s < m_su.nseq; ++s) {
        const size_t o = static_cast<size_t>(off(s));
        CudaDecoder::LayerTaps taps;
        taps.attn_in = ps.taps[0].as<float>() + o * m_tap_width[0];
        taps.o_in = ps.taps[1].as<float>() + o * m_tap_width[1];
        taps.mlp_in = ps.taps[2].as<float>() + o * m_tap_width[2];
        taps.down_in = ps.taps[3].as<float>() + o * m_tap_width[3];
        m_dec->set_residual(cache(layer, s), len(s), p);
        m_dec->run_layers(layer, layer + 1, len(s), nullptr, &taps);
    }
    ck(cudaStreamSynchronize(on(p)), "synchronize");
}

std::vector<float> CudaScorer::tap_importance(int layer, int kind_index) {
    const int p = m_dec->part_of_layer(layer);
    RowMatrix x(m_su.tokens, m_tap_width[kind_index]);
    const cudaStream_t st = on(p);
    ck(cudaMemcpyAsync(x.data(), m_parts[static_cast<size_t>(p)].taps[kind_index].data(),
                       static_cast<size_t>(x.size()) * 4, cudaMemcpyDeviceToHost, st),
       "taps to host");
    ck(cudaStreamSynchronize(st), "synchronize");
    return score::channel_importance({&x});
}

int tap_index(io::UnitKind k) {
    switch (k) {
        case io::UnitKind::QKV: return 0;
        case io::UnitKind::O: return 1;
        case io::UnitKind::GateUp: return 2;
        case io::UnitKind::Down: return 3;
        default: break;
    }
    fail(kWhere, "unit kind has no layer tap");
}

void CudaScorer::score_layer(int layer, const std::vector<size_t>& units) {
    const auto& cands = m_su.table.candidates;
    const auto& lay = m_dec->layer_layout();
    const int p = m_dec->part_of_layer(layer);
    PartScratch& ps = m_parts[static_cast<size_t>(p)];
    const bool low = !ps.ref_img.empty();
    const uint8_t* ref_img = static_cast<const uint8_t*>(m_dec->layer_image(layer));
    if (low) {
        ck(cudaMemcpyAsync(ps.ref_img.data(), ref_img, lay.bytes, cudaMemcpyHostToDevice, on(p)), "layer image");
        ref_img = ps.ref_img.as<uint8_t>();
    }
    m_item = "layer " + std::to_string(layer) + " inputs";
    capture_taps(layer);
    std::shared_ptr<const engine::LayerWeights> host_w;  // fp32 weights, only for host-side (k-quant) candidates
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        const int ti = tap_index(unit.kind);
        const LinearSlot& slot = ti == 0 ? lay.qkv : ti == 1 ? lay.o : ti == 2 ? lay.gate_up : lay.down;
        if (slot.quantized || slot.dtype != io::DType::F32) fail(kWhere, "variant slots must be dense fp32");
        if (static_cast<int64_t>(unit.numel()) != slot.n * slot.k)
            fail(kWhere, "unit " + unit.name + " does not cover its fused linear");
        std::vector<float> importance;
        for (size_t c = 0; c < cands.size(); ++c) {
            const auto& f = cands[c];
            m_item = unit.name + " " + f.name();
            cudaStream_t st = on(p);  // the previous candidate ended on the last part
            ck(cudaMemcpyAsync(ps.img.data(), ref_img, lay.bytes, cudaMemcpyDeviceToDevice, st), "variant image");
            float* wq = reinterpret_cast<float*>(ps.img.as<uint8_t>() + slot.weight_off);
            if (f.method == quant::Method::RTN) {
                ck(fake_quantize_rtn(wq, wq, slot.n, slot.k, f.bits, f.block_size, f.symmetric, m_su.scale_dtype, st),
                   "fake_quantize_rtn");
            } else {
                if (importance.empty()) importance = tap_importance(layer, ti);
                if (!host_w) host_w = m_tf->layer(layer);
                const auto& w = *host_w;
                const RowMatrix full = ti == 0   ? vcat({w.q, w.k, w.v})
                                       : ti == 1 ? vcat({w.o})
                                       : ti == 2 ? vcat({w.gate, w.up})
                                                 : vcat({w.down});
                const RowMatrix q = quantize_named("unit '" + unit.name + "'", full, f, importance.data());
                st = on(p);
                ck(cudaMemcpyAsync(wq, q.data(), static_cast<size_t>(q.size()) * 4, cudaMemcpyHostToDevice, st),
                   "upload variant");
                ck(cudaStreamSynchronize(st), "synchronize");
            }
            // Relative output error on the captured inputs.
            double num = 0, den = 0;
            const float* w_ref = reinterpret_cast<const float*>(ref_img + slot.weight_off);
            const cublasHandle_t h = blas(p);
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const float* x = ps.taps[ti].as<float>() + static_cast<size_t>(off(s)) * m_tap_width[ti];
                cb(gemm_wt(h, x, w_ref, io::DType::F32, ps.y.data(), io::DType::F32, n, static_cast<int>(slot.n),
                           static_cast<int>(slot.k), st),
                   "gemm");
                cb(gemm_wt(h, x, wq, io::DType::F32, ps.yq.data(), io::DType::F32, n, static_cast<int>(slot.n),
                           static_cast<int>(slot.k), st),
                   "gemm");
                const int cnt = n * static_cast<int>(slot.n);
                const float minus_one = -1.0f;
                cb(cublas_saxpy(h, cnt, &minus_one, ps.y.as<float>(), 1, ps.yq.as<float>(), 1), "saxpy");
                float a = 0, b = 0;
                cb(cublas_snrm2(h, cnt, ps.yq.as<float>(), 1, &a), "nrm2");
                cb(cublas_snrm2(h, cnt, ps.y.as<float>(), 1, &b), "nrm2");
                num += static_cast<double>(a) * a;
                den += static_cast<double>(b) * b;
            }
            // KL through the rest of the model (exact) or with the residual shortcut (fast).
            double kl = 0;
            if (m_opt.mode == "exact") {
                for (int s = 0; s < m_su.nseq; ++s)
                    ck(cudaMemcpyAsync(hv(s), cache(layer, s), static_cast<size_t>(len(s)) * H * 4, cudaMemcpyDefault,
                                       on(p)),
                       "variant input");
                propagate(layer, ps.img.data(), 1);
            }
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const float* ref = ref_logits(s);
                if (m_opt.mode == "exact") {
                    m_dec->set_residual(hv(s), n, m_last);
                } else {  // final residual + (variant layer output − reference layer output), on the layer's part
                    m_dec->set_residual(cache(layer, s), n, p);
                    m_dec->run_layers(layer, layer + 1, n, ps.img.data());
                    const float one = 1.0f, minus_one = -1.0f;
                    const float* fin = cache_on_device(L, s, ps.tmp_a, p);
                    const float* out = cache_on_device(layer + 1, s, ps.tmp_b, p);
                    const cublasHandle_t hp = blas(p);
                    cb(cublas_saxpy(hp, n * H, &one, fin, 1, m_dec->residual_device(p), 1), "saxpy");
                    cb(cublas_saxpy(hp, n * H, &minus_one, out, 1, m_dec->residual_device(p), 1), "saxpy");
                    if (p != m_last) m_dec->set_residual(m_dec->residual_device(p), n, m_last);
                }
                m_dec->logits_device(n, m_logits.as<float>());
                kl += kl_sum(ref, m_logits.as<float>(), n);
                if (m_opt.mode != "exact") step(1);
            }
            set_candidate(u, c, kl, num, den);
        }
        if (m_opt.on_unit) m_opt.on_unit(m_su.table.units[u]);
    }
}

void CudaScorer::score_head_units(const std::vector<size_t>& units) {
    const auto& cands = m_su.table.candidates;
    bool any_kquant = false;
    for (const auto& f : cands) any_kquant |= f.method == quant::Method::KQuant;
    std::vector<float> head_importance;
    float* const final_rows = m_parts[static_cast<size_t>(m_last)].tmp_a.as<float>();  // on the last part
    if (any_kquant) {
        RowMatrix finals(m_su.tokens, H);
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(L, s), len(s), m_last);
            m_dec->final_norm_device(len(s), final_rows);
            const cudaStream_t st = on(m_last);
            ck(cudaMemcpyAsync(finals.data() + static_cast<size_t>(off(s)) * H, final_rows,
                               static_cast<size_t>(len(s)) * H * 4, cudaMemcpyDeviceToHost, st),
               "final hidden");
            ck(cudaStreamSynchronize(st), "synchronize");
        }
        head_importance = score::channel_importance({&finals});
    }
    for (size_t u : units) {
        const auto& unit = m_model->layout().units[u];
        const bool uses_head = unit.kind == io::UnitKind::LmHead || unit.kind == io::UnitKind::TiedEmbedding;
        const bool uses_embed = unit.kind == io::UnitKind::Embedding || unit.kind == io::UnitKind::TiedEmbedding;
        const std::string tensor = unit.members[0].name;
        const auto w = m_tf->current_matrix(tensor);
        for (size_t c = 0; c < cands.size(); ++c) {
            m_item = unit.name + " " + cands[c].name();
            const bool weighted = cands[c].method == quant::Method::KQuant && uses_head;
            const RowMatrix wq = quantize_named("tensor '" + tensor + "'", *w, cands[c],
                                                weighted ? head_importance.data() : nullptr);
            const size_t table_bytes = static_cast<size_t>(wq.size()) * 4;
            ck(cudaMemcpyAsync(m_head_q.data(), wq.data(), table_bytes, cudaMemcpyHostToDevice, on(m_last)),
               "upload table");
            const void* embed_table = m_head_q.data();  // the candidate table where the embedding gather runs
            if (uses_embed && !m_embed_q.empty()) {
                ck(cudaMemcpyAsync(m_embed_q.data(), wq.data(), table_bytes, cudaMemcpyHostToDevice, on(0)),
                   "upload table");
                embed_table = m_embed_q.data();
            }
            double num = 0, den = 0, kl = 0;
            if (!uses_head) {  // embedding gather only: relative error of the gathered rows, as the CPU scorer
                for (const auto& seq : m_calib.sequences) {
                    const RowMatrix a = engine::Transformer::gather_rows(*w, seq);
                    const RowMatrix b = engine::Transformer::gather_rows(wq, seq);
                    num += (a - b).squaredNorm();
                    den += a.squaredNorm();
                }
            }
            if (uses_embed && m_opt.mode == "exact") {
                for (int s = 0; s < m_su.nseq; ++s) {
                    m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)], embed_table);
                    m_dec->get_residual(hv(s), len(s), 0);
                }
                propagate(0, nullptr, 1);
            }
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
                const float* ref = ref_logits(s);
                if (!uses_embed) {
                    m_dec->set_residual(cache(L, s), n, m_last);
                } else if (m_opt.mode == "exact") {
                    m_dec->set_residual(hv(s), n, m_last);
                } else {  // fast: the embedding change carried unchanged to the final residual stream
                    RowMatrix fin(n, H);
                    sync_all();
                    ck(cudaMemcpy(fin.data(), cache(L, s), static_cast<size_t>(n) * H * 4, cudaMemcpyDefault), "cache");
                    fin += engine::Transformer::gather_rows(wq, seq) - engine::Transformer::gather_rows(*w, seq);
                    m_dec->set_residual(fin.data(), n, m_last);
                }
                m_dec->logits_device(n, m_logits.as<float>(), uses_head ? m_head_q.data() : nullptr);
                kl += kl_sum(ref, m_logits.as<float>(), n);
                if (uses_head) {  // ‖X·ΔWᵀ‖ with X the reference final hidden states (X·Wᵀ is the reference)
                    if (uses_embed) {  // tied: the logits above came from the perturbed stream
                        m_dec->set_residual(cache(L, s), n, m_last);
                        m_dec->logits_device(n, m_logits.as<float>(), m_head_q.data());
                    }
                    const int cnt = n * V;
                    const float minus_one = -1.0f;
                    float a = 0, b = 0;
                    const cublasHandle_t h = blas(m_last);
                    cb(cublas_saxpy(h, cnt, &minus_one, ref, 1, m_logits.as<float>(), 1), "saxpy");
                    cb(cublas_snrm2(h, cnt, m_logits.as<float>(), 1, &a), "nrm2");
                    cb(cublas_snrm2(h, cnt, ref, 1, &b), "nrm2");
                    num += static_cast<double>(a) * a;
                    den += static_cast<double>(b) * b;
                }
                step(1);
            }
            set_candidate(u, c, kl, num, den);
        }
        if (m_opt.on_unit) m_opt.on_unit(m_su.table.units[u]);
    }
}

score::ScoreTable CudaScorer::run() {
    const auto t0 = std::chrono::steady_clock::now();
    m_su = score::prepare_scoring(*m_model, m_calib, m_opt, m_job);
    setup();
    DeviceGuard g(m_dec->part_device(0));  // on() switches devices part by part; the caller's comes back at the end
    const double C = static_cast<double>(m_su.table.candidates.size());
    m_work_total = static_cast<double>(L) * m_su.nseq;
    for (const auto& [l, us] : m_su.by_layer)
        m_work_total += static_cast<double>(us.size()) * C * m_su.nseq * (m_opt.mode == "exact" ? L - l : 1);
    // (exact: L − l layer steps per sequence; fast: one step per sequence)
    for (size_t u : m_su.head_units) {
        const bool embed = m_model->layout().units[u].kind != io::UnitKind::LmHead;
        m_work_total += C * m_su.nseq * (embed && m_opt.mode == "exact" ? L + 1 : 1);
    }
    reference_pass();
    score_head_units(m_su.head_units);
    for (const auto& [l, us] : m_su.by_layer) score_layer(l, us);
    sync_all();
    m_job.report(1.0, "scoring", "done");
    m_su.table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(m_su.table);
}

}  // namespace

score::ScoreTable score_model_cuda(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                                   const score::ScoreOptions& opt, const JobContext& job, CudaScorerPlacement where) {
    std::string why;
    if (!cuda_available(&why, false)) fail(kWhere, why);
    CudaScorer s(std::move(model), calib, opt, job, std::move(where));
    return s.run();
}

}  // namespace mixq::gpu
