// SPDX-License-Identifier: MIT
// CudaScoringEngine: the scoring building blocks (core/score/scoring_engine.h) on the CUDA decoder. The reference
// pass caches every layer's input per sequence (device or pinned host memory) and, when they fit, the reference
// logits; each decoder layer's linear inputs are captured once; each unit × candidate becomes a variant image of
// its layer (RTN: fake-quantized on the device; k-quant: on the host with the captured activations as importance)
// that is run from that layer to the lm_head, compared with the fused KL kernel. One variant at a time (one slot).
#include "gpu/cuda_scorer.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstring>
#include <map>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/score/layer_units.h"
#include "core/score/scoring_driver.h"
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

/// A decoder part's scratch: the variant image and everything a layer's candidates need, on the part's device.
struct PartScratch {
    DeviceBuffer img, ref_img, y, yq, tmp_a, tmp_b;
    DeviceBuffer taps[4];  // attn_in, o_in, mlp_in, down_in: [tokens, width] fp32
};

class CudaScoringEngine : public score::ScoringEngine {
public:
    CudaScoringEngine(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                      const score::ScoreOptions& opt, const JobContext& job, CudaScorerPlacement where)
        : m_model(std::move(model)), m_calib(calib), m_opt(opt), m_job(job), m_where(std::move(where)),
          m_exact(opt.mode == "exact") {}
    ~CudaScoringEngine() override {  // the work queued on every part ends before its buffers go
        if (!m_dec) return;
        for (int p = 0; p < m_dec->parts(); ++p) cudaStreamSynchronize(static_cast<cudaStream_t>(m_dec->stream(p)));
    }

    std::string backend_name() const override { return "cuda"; }
    std::vector<uint64_t> device_free_bytes(const score::ScoringSetup& setup) override;
    bool runs_multi_gpu() const override { return true; }
    void open(const score::ScoringSetup& setup, const score::MemoryDecision& decision,
              std::shared_ptr<const engine::Rotation> rotation) override;
    std::string device_label() const override { return m_device_label; }

    void embed_reference(int s) override;
    void reference_layer(int layer, int s) override;
    void end_reference() override;

    int variant_slots() const override { return 1; }
    void begin_layer(int layer) override;
    std::vector<float> tap_importance(io::UnitKind kind) override;
    score::OutputError make_layer_variant(int slot, const io::QuantUnit& unit, const quant::QuantFormat& format,
                                          const float* importance) override;
    void run_variant_layer(int slot, int s) override;
    void drop_variant_weights(int) override {}  // the next variant overwrites the image
    void release_taps() override {}             // the next layer overwrites them
    void propagate(int slot, int layer, int s) override;
    double variant_kl(int slot, int s) override;

    std::shared_ptr<const RowMatrix> host_matrix(const std::string& tensor) override {
        return m_tf->current_matrix(tensor);
    }
    std::vector<float> head_importance() override;
    void set_table_variant(const io::QuantUnit& unit, const RowMatrix& wq) override;
    void embed_variant(int s) override;
    double table_variant_kl(int s, score::OutputError& head_error) override;

private:
    std::shared_ptr<const io::Model> m_model;
    const score::CalibrationSet& m_calib;
    const score::ScoreOptions& m_opt;
    const JobContext& m_job;
    CudaScorerPlacement m_where;
    const bool m_exact;

    std::unique_ptr<DeviceGuard> m_guard;  // the caller's device comes back when the engine goes
    std::vector<DeviceInfo> m_devs;
    std::vector<int> m_ids;              // the devices the memory decision weighed
    std::vector<uint64_t> m_device_free;  // their free bytes (a device's share where it is listed k times)
    int m_nseq = 0;
    int64_t m_tokens = 0;
    int64_t m_largest_layer_params = 0;
    io::DType m_scale_dtype = io::DType::BF16;
    std::string m_device_label;
    std::unique_ptr<engine::Transformer> m_tf;
    std::unique_ptr<CudaDecoder> m_dec;
    int L = 0, H = 0, V = 0, Q = 0, I = 0, m_maxT = 0;
    int m_last = 0;              // the decoder's last part (final norm, lm_head, logits)
    std::vector<int64_t> m_off;  // first token of each sequence in the flattened calibration set
    std::vector<int> m_len;

    bool m_cache_host = false;
    DeviceBuffer m_cache_dev;
    PinnedBuffer m_cache_pin;
    bool m_store_ref = false;
    std::vector<PartScratch> m_parts;
    DeviceBuffer m_hv;       // first part: variant hidden states of every sequence [tokens, hidden] fp32
    DeviceBuffer m_embed_q;  // first part, when its device is not the last part's: the candidate embedding table
    DeviceBuffer m_ref, m_ref_tmp, m_logits, m_kl, m_head_q;  // last part
    PinnedBuffer m_kl_host;
    int m_tap_width[4] = {0, 0, 0, 0};

    // The current layer.
    int m_layer = -1, m_part = 0;
    const uint8_t* m_ref_img = nullptr;
    std::shared_ptr<const engine::LayerWeights> m_host_w;  // fp32 weights, only for host-side (k-quant) candidates

    // The current table variant.
    bool m_tab_head = false, m_tab_embed = false;
    std::shared_ptr<const RowMatrix> m_tab_ref;
    RowMatrix m_tab_q;
    const void* m_embed_table = nullptr;  // the candidate table where the embedding gather runs

    int len(int s) const { return m_len[static_cast<size_t>(s)]; }
    int64_t off(int s) const { return m_off[static_cast<size_t>(s)]; }
    float* cache(int l, int s) {
        const size_t i = (static_cast<size_t>(l) * static_cast<size_t>(m_tokens) + static_cast<size_t>(off(s))) *
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

    void allocate_scratch(int part, bool low_memory);
    const float* ref_logits(int s);
    double kl_sum(const float* ref, const float* cand, int n);
};

std::vector<uint64_t> CudaScoringEngine::device_free_bytes(const score::ScoringSetup& su) {
    const auto& cfg = m_model->config();
    if (cfg.has_sliding_window())
        fail(m_model->dir().string(), "sliding-window attention (sliding_window " + std::to_string(cfg.sliding_window) +
                                          ") is not implemented by the CUDA scorer; use --device cpu");
    L = cfg.num_layers;
    H = cfg.hidden_size;
    V = cfg.vocab_size;
    Q = cfg.q_dim();
    I = cfg.intermediate_size;
    m_nseq = su.nseq;
    m_tokens = su.tokens;
    m_largest_layer_params = su.largest_layer_params;
    m_scale_dtype = su.scale_dtype;
    std::string why;
    m_devs = list_devices(&why);
    const auto& devs = m_devs;
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

    for (int s = 0; s < m_nseq; ++s) {
        m_off.push_back(s == 0 ? 0 : m_off.back() + m_len.back());
        m_len.push_back(static_cast<int>(m_calib.sequences[static_cast<size_t>(s)].size()));
        m_maxT = std::max(m_maxT, m_len.back());
    }
    m_ids = ids;
    m_device_free = device_free;
    return device_free;
}

void CudaScoringEngine::open(const score::ScoringSetup&, const score::MemoryDecision& d,
                             std::shared_ptr<const engine::Rotation> rotation) {
    const auto& cfg = m_model->config();
    const auto& devs = m_devs;
    const size_t tokens = static_cast<size_t>(m_tokens), T = static_cast<size_t>(m_maxT);
    const bool multi = d.mode == MemoryMode::MultiGpu;
    m_cache_host = d.mode == MemoryMode::Offload || multi;  // multi_gpu: one host cache that every device reads

    engine::EngineOptions eo;
    eo.resident = false;
    eo.rotation = std::move(rotation);
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
        const uint64_t scratch = static_cast<uint64_t>(m_largest_layer_params) * 4 + tokens * widths * 4 +
                                 2 * T * max_n * 4 + 2 * T * static_cast<uint64_t>(H) * 4 +
                                 2 * static_cast<uint64_t>(V) * H * 4 + T * static_cast<uint64_t>(V) * 4 +
                                 tokens * static_cast<uint64_t>(H) * 4;
        o.devices = m_ids;
        o.layer_split = m_where.layer_split;
        for (uint64_t f : m_device_free) o.device_budgets.push_back(f * 85 / 100 > scratch ? f * 85 / 100 - scratch : 0);
    }
    m_dec = std::make_unique<CudaDecoder>(*m_tf, o);
    m_last = m_dec->parts() - 1;
    m_device_label.clear();
    for (int p = 0; p < m_dec->parts(); ++p) {
        const int dev = m_dec->part_device(p);
        m_device_label += (p ? " + " : "") + std::string("cuda:") + std::to_string(dev) + " (" +
                          devs[static_cast<size_t>(dev)].name + ")";
    }
    {
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
        m_job.log(std::string("CUDA scorer: ") + m_dec->describe() + "; hidden cache " +
                  score::format_bytes(cache_bytes) + (m_cache_host ? " in pinned host memory" : " on the device") +
                  "; reference logits " +
                  (m_store_ref ? "kept (" + score::format_bytes(ref_bytes) + ")" : std::string("recomputed per use")));
    }
    m_guard = std::make_unique<DeviceGuard>(m_dec->part_device(0));  // on() switches devices part by part
}

void CudaScoringEngine::allocate_scratch(int part, bool low_memory) {
    DeviceGuard g(m_dec->part_device(part));
    PartScratch& ps = m_parts[static_cast<size_t>(part)];
    const size_t tokens = static_cast<size_t>(m_tokens), T = static_cast<size_t>(m_maxT);
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

// --- reference pass ---

void CudaScoringEngine::embed_reference(int s) {
    m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)]);
    m_dec->get_residual(cache(0, s), len(s), 0);
}

void CudaScoringEngine::reference_layer(int l, int s) {  // layer-major: low_memory streams each layer once
    const int p = m_dec->part_of_layer(l);
    m_dec->set_residual(cache(l, s), len(s), p);
    m_dec->run_layers(l, l + 1, len(s));
    m_dec->get_residual(cache(l + 1, s), len(s), p);
    if (s == m_nseq - 1) sync_all();  // the layer is done
}

void CudaScoringEngine::end_reference() {
    if (m_store_ref)
        for (int s = 0; s < m_nseq; ++s) {
            m_dec->set_residual(cache(L, s), len(s), m_last);
            m_dec->logits_device(len(s), m_ref.as<float>() + static_cast<size_t>(off(s)) * V);
        }
    sync_all();
}

const float* CudaScoringEngine::ref_logits(int s) {
    if (m_store_ref) return m_ref.as<float>() + static_cast<size_t>(off(s)) * V;
    m_dec->set_residual(cache(L, s), len(s), m_last);
    m_dec->logits_device(len(s), m_ref_tmp.as<float>());
    return m_ref_tmp.as<float>();
}

double CudaScoringEngine::kl_sum(const float* ref, const float* cand, int n) {
    const cudaStream_t st = on(m_last);
    ck(kl_rows(ref, cand, io::DType::F32, n, V, 0, m_kl.as<double>(), st), "kl_rows");
    ck(cudaMemcpyAsync(m_kl_host.data(), m_kl.data(), static_cast<size_t>(n) * 8, cudaMemcpyDeviceToHost, st), "kl");
    ck(cudaStreamSynchronize(st), "synchronize");
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += m_kl_host.as<double>()[r];
    return sum;
}

// --- a decoder layer's units ---

void CudaScoringEngine::begin_layer(int layer) {
    const auto& lay = m_dec->layer_layout();
    m_layer = layer;
    m_part = m_dec->part_of_layer(layer);
    m_host_w.reset();
    PartScratch& ps = m_parts[static_cast<size_t>(m_part)];
    m_ref_img = static_cast<const uint8_t*>(m_dec->layer_image(layer));
    if (!ps.ref_img.empty()) {  // low_memory: the layer's reference image on the device
        ck(cudaMemcpyAsync(ps.ref_img.data(), m_ref_img, lay.bytes, cudaMemcpyHostToDevice, on(m_part)),
           "layer image");
        m_ref_img = ps.ref_img.as<uint8_t>();
    }
    // The inputs of the layer's linears for every sequence.
    for (int s = 0; s < m_nseq; ++s) {
        const size_t o = static_cast<size_t>(off(s));
        CudaDecoder::LayerTaps taps;
        taps.attn_in = ps.taps[0].as<float>() + o * m_tap_width[0];
        taps.o_in = ps.taps[1].as<float>() + o * m_tap_width[1];
        taps.mlp_in = ps.taps[2].as<float>() + o * m_tap_width[2];
        taps.down_in = ps.taps[3].as<float>() + o * m_tap_width[3];
        m_dec->set_residual(cache(layer, s), len(s), m_part);
        m_dec->run_layers(layer, layer + 1, len(s), nullptr, &taps);
    }
    ck(cudaStreamSynchronize(on(m_part)), "synchronize");
}

std::vector<float> CudaScoringEngine::tap_importance(io::UnitKind kind) {
    const int ti = tap_index(kind);
    RowMatrix x(m_tokens, m_tap_width[ti]);
    const cudaStream_t st = on(m_part);
    ck(cudaMemcpyAsync(x.data(), m_parts[static_cast<size_t>(m_part)].taps[ti].data(),
                       static_cast<size_t>(x.size()) * 4, cudaMemcpyDeviceToHost, st),
       "taps to host");
    ck(cudaStreamSynchronize(st), "synchronize");
    return score::channel_importance({&x});
}

score::OutputError CudaScoringEngine::make_layer_variant(int, const io::QuantUnit& unit, const quant::QuantFormat& f,
                                                         const float* importance) {
    const auto& lay = m_dec->layer_layout();
    const int p = m_part;
    PartScratch& ps = m_parts[static_cast<size_t>(p)];
    const int ti = tap_index(unit.kind);
    const LinearSlot& slot = ti == 0 ? lay.qkv : ti == 1 ? lay.o : ti == 2 ? lay.gate_up : lay.down;
    if (slot.quantized || slot.dtype != io::DType::F32) fail(kWhere, "variant slots must be dense fp32");
    if (static_cast<int64_t>(unit.numel()) != slot.n * slot.k)
        fail(kWhere, "unit " + unit.name + " does not cover its fused linear");
    cudaStream_t st = on(p);  // the previous candidate ended on the last part
    ck(cudaMemcpyAsync(ps.img.data(), m_ref_img, lay.bytes, cudaMemcpyDeviceToDevice, st), "variant image");
    float* wq = reinterpret_cast<float*>(ps.img.as<uint8_t>() + slot.weight_off);
    if (f.method == quant::Method::RTN) {
        ck(fake_quantize_rtn(wq, wq, slot.n, slot.k, f.bits, f.block_size, f.symmetric, m_scale_dtype, st),
           "fake_quantize_rtn");
    } else {
        if (!m_host_w) m_host_w = m_tf->layer(m_layer);
        const RowMatrix full = score::fused_unit_weight(*m_host_w, unit.kind);
        const RowMatrix q = score::quantize_for_scoring(*m_model, "unit '" + unit.name + "'", full, f, m_scale_dtype,
                                                        importance, m_job);
        st = on(p);
        ck(cudaMemcpyAsync(wq, q.data(), static_cast<size_t>(q.size()) * 4, cudaMemcpyHostToDevice, st),
           "upload variant");
        ck(cudaStreamSynchronize(st), "synchronize");
    }
    // Relative output error on the captured inputs.
    score::OutputError err;
    const float* w_ref = reinterpret_cast<const float*>(m_ref_img + slot.weight_off);
    const cublasHandle_t h = blas(p);
    for (int s = 0; s < m_nseq; ++s) {
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
        err.num += static_cast<double>(a) * a;
        err.den += static_cast<double>(b) * b;
    }
    return err;
}

void CudaScoringEngine::run_variant_layer(int, int s) {
    m_dec->set_residual(cache(m_layer, s), len(s), m_part);
    m_dec->run_layers(m_layer, m_layer + 1, len(s), m_parts[static_cast<size_t>(m_part)].img.data());
    m_dec->get_residual(hv(s), len(s), m_part);
}

void CudaScoringEngine::propagate(int, int l, int s) {  // multi_gpu: to the next device at a part boundary
    const int p = m_dec->part_of_layer(l);
    m_dec->set_residual(hv(s), len(s), p);
    m_dec->run_layers(l, l + 1, len(s));
    m_dec->get_residual(hv(s), len(s), p);
}

double CudaScoringEngine::variant_kl(int, int s) {
    const int n = len(s), p = m_part;
    PartScratch& ps = m_parts[static_cast<size_t>(p)];
    const float* ref = ref_logits(s);
    if (m_exact) {
        m_dec->set_residual(hv(s), n, m_last);
    } else {  // final residual + (variant layer output − reference layer output), on the layer's part
        m_dec->set_residual(hv(s), n, p);
        const float one = 1.0f, minus_one = -1.0f;
        const float* fin = cache_on_device(L, s, ps.tmp_a, p);
        const float* out = cache_on_device(m_layer + 1, s, ps.tmp_b, p);
        const cublasHandle_t hp = blas(p);
        cb(cublas_saxpy(hp, n * H, &one, fin, 1, m_dec->residual_device(p), 1), "saxpy");
        cb(cublas_saxpy(hp, n * H, &minus_one, out, 1, m_dec->residual_device(p), 1), "saxpy");
        if (p != m_last) m_dec->set_residual(m_dec->residual_device(p), n, m_last);
    }
    m_dec->logits_device(n, m_logits.as<float>());
    return kl_sum(ref, m_logits.as<float>(), n);
}

// --- lm_head / embedding units ---

std::vector<float> CudaScoringEngine::head_importance() {
    float* const final_rows = m_parts[static_cast<size_t>(m_last)].tmp_a.as<float>();  // on the last part
    RowMatrix finals(m_tokens, H);
    for (int s = 0; s < m_nseq; ++s) {
        m_dec->set_residual(cache(L, s), len(s), m_last);
        m_dec->final_norm_device(len(s), final_rows);
        const cudaStream_t st = on(m_last);
        ck(cudaMemcpyAsync(finals.data() + static_cast<size_t>(off(s)) * H, final_rows,
                           static_cast<size_t>(len(s)) * H * 4, cudaMemcpyDeviceToHost, st),
           "final hidden");
        ck(cudaStreamSynchronize(st), "synchronize");
    }
    return score::channel_importance({&finals});
}

void CudaScoringEngine::set_table_variant(const io::QuantUnit& unit, const RowMatrix& wq) {
    m_tab_head = unit.kind == io::UnitKind::LmHead || unit.kind == io::UnitKind::TiedEmbedding;
    m_tab_embed = unit.kind == io::UnitKind::Embedding || unit.kind == io::UnitKind::TiedEmbedding;
    m_tab_ref = m_tf->current_matrix(unit.members[0].name);
    m_tab_q = wq;
    const size_t table_bytes = static_cast<size_t>(wq.size()) * 4;
    ck(cudaMemcpyAsync(m_head_q.data(), wq.data(), table_bytes, cudaMemcpyHostToDevice, on(m_last)), "upload table");
    m_embed_table = m_head_q.data();
    if (m_tab_embed && !m_embed_q.empty()) {
        ck(cudaMemcpyAsync(m_embed_q.data(), wq.data(), table_bytes, cudaMemcpyHostToDevice, on(0)), "upload table");
        m_embed_table = m_embed_q.data();
    }
}

void CudaScoringEngine::embed_variant(int s) {
    m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)], m_embed_table);
    m_dec->get_residual(hv(s), len(s), 0);
}

double CudaScoringEngine::table_variant_kl(int s, score::OutputError& err) {
    const int n = len(s);
    const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
    const float* ref = ref_logits(s);
    if (!m_tab_embed) {
        m_dec->set_residual(cache(L, s), n, m_last);
    } else if (m_exact) {
        m_dec->set_residual(hv(s), n, m_last);
    } else {  // fast: the embedding change carried unchanged to the final residual stream
        RowMatrix fin(n, H);
        sync_all();
        ck(cudaMemcpy(fin.data(), cache(L, s), static_cast<size_t>(n) * H * 4, cudaMemcpyDefault), "cache");
        fin += engine::Transformer::gather_rows(m_tab_q, seq) - engine::Transformer::gather_rows(*m_tab_ref, seq);
        m_dec->set_residual(fin.data(), n, m_last);
    }
    m_dec->logits_device(n, m_logits.as<float>(), m_tab_head ? m_head_q.data() : nullptr);
    const double kl = kl_sum(ref, m_logits.as<float>(), n);
    if (m_tab_head) {  // ‖X·ΔWᵀ‖ with X the reference final hidden states (X·Wᵀ is the reference)
        if (m_tab_embed) {  // tied: the logits above came from the perturbed stream
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
        err.num += static_cast<double>(a) * a;
        err.den += static_cast<double>(b) * b;
    }
    return kl;
}

}  // namespace

std::unique_ptr<score::ScoringEngine> make_cuda_scoring_engine(std::shared_ptr<const io::Model> model,
                                                              const score::CalibrationSet& calib,
                                                              const score::ScoreOptions& opt, const JobContext& job,
                                                              CudaScorerPlacement where) {
    std::string why;
    if (!cuda_available(&why, false)) fail(kWhere, why);
    return std::make_unique<CudaScoringEngine>(std::move(model), calib, opt, job, std::move(where));
}

score::ScoreTable score_model_cuda(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                                   const score::ScoreOptions& opt, const JobContext& job, CudaScorerPlacement where) {
    const auto engine = make_cuda_scoring_engine(model, calib, opt, job, std::move(where));
    return score::run_scoring(*engine, std::move(model), calib, opt, job);
}

}  // namespace mixq::gpu
