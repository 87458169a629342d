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

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/quant/quantizer.h"
#include "core/score/score_backend.h"
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

class CudaScorer {
public:
    CudaScorer(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib, const score::ScoreOptions& opt,
               const JobContext& job, int device)
        : m_model(std::move(model)), m_calib(calib), m_opt(opt), m_job(job), m_device(device) {}

    score::ScoreTable run();

private:
    std::shared_ptr<const io::Model> m_model;
    const score::CalibrationSet& m_calib;
    const score::ScoreOptions& m_opt;
    const JobContext& m_job;
    int m_device = 0;

    score::ScoringSetup m_su;
    std::unique_ptr<engine::Transformer> m_tf;
    std::unique_ptr<CudaDecoder> m_dec;
    cudaStream_t m_st = nullptr;
    cublasHandle_t m_cb = nullptr;
    int L = 0, H = 0, V = 0, Q = 0, I = 0, m_maxT = 0;
    std::vector<int64_t> m_off;  // first token of each sequence in the flattened calibration set
    std::vector<int> m_len;

    bool m_cache_host = false;
    DeviceBuffer m_cache_dev;
    PinnedBuffer m_cache_pin;
    bool m_store_ref = false;
    DeviceBuffer m_hv;  // variant hidden states of every sequence [tokens, hidden] fp32
    DeviceBuffer m_ref, m_ref_tmp, m_logits, m_kl, m_y, m_yq, m_img, m_ref_img, m_head_q, m_tmp_a, m_tmp_b;
    PinnedBuffer m_kl_host;
    DeviceBuffer m_taps[4];  // attn_in, o_in, mlp_in, down_in: [tokens, width] fp32
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
    /// A device pointer to cache(l, s) (copied into `tmp` when the cache is in host memory).
    const float* cache_on_device(int l, int s, DeviceBuffer& tmp) {
        if (!m_cache_host) return cache(l, s);
        ck(cudaMemcpyAsync(tmp.data(), cache(l, s), static_cast<size_t>(len(s)) * H * 4, cudaMemcpyHostToDevice, m_st),
           "cache to device");
        return tmp.as<float>();
    }
    void sync() { ck(cudaStreamSynchronize(m_st), "synchronize"); }

    float* hv(int s) { return m_hv.as<float>() + static_cast<size_t>(off(s)) * H; }
    /// Runs every sequence's hidden state in m_hv through layers [from, L), layer by layer (so low_memory streams
    /// each layer once); `first_image` replaces layer from's weights.
    void propagate(int from, const void* first_image, double work_per_layer_seq) {
        for (int l = from; l < L; ++l)
            for (int s = 0; s < m_su.nseq; ++s) {
                m_dec->set_residual(hv(s), len(s));
                m_dec->run_layers(l, l + 1, len(s), l == from ? first_image : nullptr);
                m_dec->get_residual(hv(s), len(s));
                step(work_per_layer_seq);
            }
    }
    void setup();
    void reference_pass();
    const float* ref_logits(int s);
    double kl_sum(const float* ref, const float* cand, int n);
    void capture_taps(int layer);
    std::vector<float> tap_importance(int kind_index);
    void score_layer(int layer, const std::vector<size_t>& units);
    void score_head_units(const std::vector<size_t>& units);
    void set_candidate(size_t u, size_t c, double kld_sum, double num, double den) {
        auto& cs = m_su.table.units[u].candidates[c];
        cs.kld = kld_sum / static_cast<double>(m_su.tokens);
        cs.rel_err = den > 0 ? std::sqrt(num / den) : 0.0;
    }
    RowMatrix quantize_named(const std::string& what, const RowMatrix& w, const quant::QuantFormat& f,
                             const float* importance) const {
        try {
            return quant::fake_quantize(w, f, m_su.scale_dtype, importance);
        } catch (const Error& e) {
            fail(m_model->dir().string(), what + ": " + e.what());
        }
    }
};

void CudaScorer::setup() {
    const auto& cfg = m_model->config();
    L = cfg.num_layers;
    H = cfg.hidden_size;
    V = cfg.vocab_size;
    Q = cfg.q_dim();
    I = cfg.intermediate_size;
    std::string why;
    const auto devs = list_devices(&why);
    if (devs.empty()) fail(kWhere, why.empty() ? "CUDA unavailable: no device" : why);
    if (m_device < 0 || m_device >= static_cast<int>(devs.size()))
        fail(kWhere, "cuda:" + std::to_string(m_device) + " does not exist (" + std::to_string(devs.size()) + " devices)");
    const auto& dev = devs[static_cast<size_t>(m_device)];

    auto& t = m_su.table;
    const score::MemoryDecision d =
        score::choose_memory_mode(m_opt.memory, m_su.footprint, score::host_available_memory(), {dev.free_bytes}, L,
                                  static_cast<uint64_t>(m_su.largest_layer_params) * 4);
    t.memory_mode = score::memory_mode_name(d.mode);
    t.memory_reason = d.reason;
    t.device = "cuda:" + std::to_string(m_device) + " (" + dev.name + ")";
    m_job.log(d.reason);
    m_cache_host = d.mode == MemoryMode::Offload;

    engine::EngineOptions eo;
    eo.resident = false;
    eo.rotation = score::make_rotation(m_model, m_opt, t, m_job);
    m_tf = std::make_unique<engine::Transformer>(m_model, eo);

    for (int s = 0; s < m_su.nseq; ++s) {
        m_off.push_back(s == 0 ? 0 : m_off.back() + m_len.back());
        m_len.push_back(static_cast<int>(m_calib.sequences[static_cast<size_t>(s)].size()));
        m_maxT = std::max(m_maxT, m_len.back());
    }
    CudaDecoderOptions o;
    o.mode = d.mode == MemoryMode::Full ? MemoryMode::Full : MemoryMode::LowMemory;
    o.weight_dtype = io::DType::F32;
    o.activation_dtype = io::DType::F32;
    o.device = m_device;
    o.max_positions = m_maxT;
    o.max_chunk_tokens = m_maxT;
    o.log = [this](const std::string& line) { m_job.log(line); };
    m_dec = std::make_unique<CudaDecoder>(*m_tf, o);
    DeviceGuard g(m_device);
    m_st = static_cast<cudaStream_t>(m_dec->stream());
    m_cb = static_cast<cublasHandle_t>(m_dec->cublas());

    const size_t tokens = static_cast<size_t>(m_su.tokens), T = static_cast<size_t>(m_maxT);
    const size_t cache_bytes = static_cast<size_t>(L + 1) * tokens * H * 4;
    if (m_cache_host) m_cache_pin.allocate(cache_bytes);
    else m_cache_dev.allocate(cache_bytes);
    const auto& lay = m_dec->layer_layout();
    const int64_t max_n = std::max({lay.qkv.n, lay.o.n, lay.gate_up.n, lay.down.n});
    m_tap_width[0] = H;
    m_tap_width[1] = Q;
    m_tap_width[2] = H;
    m_tap_width[3] = I;
    for (int i = 0; i < 4; ++i) m_taps[i].allocate(tokens * static_cast<size_t>(m_tap_width[i]) * 4);
    m_logits.allocate(T * V * 4);
    m_kl.allocate(T * 8);
    m_kl_host.allocate(T * 8);
    m_y.allocate(T * static_cast<size_t>(max_n) * 4);
    m_yq.allocate(T * static_cast<size_t>(max_n) * 4);
    m_img.allocate(lay.bytes);
    m_hv.allocate(tokens * H * 4);
    if (o.mode == MemoryMode::LowMemory) m_ref_img.allocate(lay.bytes);
    m_head_q.allocate(static_cast<size_t>(V) * H * 4);
    m_tmp_a.allocate(T * H * 4);
    m_tmp_b.allocate(T * H * 4);
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

void CudaScorer::reference_pass() {
    for (int s = 0; s < m_su.nseq; ++s) {
        m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)]);
        m_dec->get_residual(cache(0, s), len(s));
    }
    for (int l = 0; l < L; ++l) {  // layer-major: low_memory streams each layer once
        m_item = "reference pass, layer " + std::to_string(l);
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(l, s), len(s));
            m_dec->run_layers(l, l + 1, len(s));
            m_dec->get_residual(cache(l + 1, s), len(s));
            step(1);
        }
        sync();
    }
    if (m_store_ref)
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(L, s), len(s));
            m_dec->logits_device(len(s), m_ref.as<float>() + static_cast<size_t>(off(s)) * V);
        }
    sync();
}

const float* CudaScorer::ref_logits(int s) {
    if (m_store_ref) return m_ref.as<float>() + static_cast<size_t>(off(s)) * V;
    m_dec->set_residual(cache(L, s), len(s));
    m_dec->logits_device(len(s), m_ref_tmp.as<float>());
    return m_ref_tmp.as<float>();
}

double CudaScorer::kl_sum(const float* ref, const float* cand, int n) {
    ck(kl_rows(ref, cand, io::DType::F32, n, V, 0, m_kl.as<double>(), m_st), "kl_rows");
    ck(cudaMemcpyAsync(m_kl_host.data(), m_kl.data(), static_cast<size_t>(n) * 8, cudaMemcpyDeviceToHost, m_st), "kl");
    sync();
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += m_kl_host.as<double>()[r];
    return sum;
}

void CudaScorer::capture_taps(int layer) {
    for (int s = 0; s < m_su.nseq; ++s) {
        const size_t o = static_cast<size_t>(off(s));
        CudaDecoder::LayerTaps taps;
        taps.attn_in = m_taps[0].as<float>() + o * m_tap_width[0];
        taps.o_in = m_taps[1].as<float>() + o * m_tap_width[1];
        taps.mlp_in = m_taps[2].as<float>() + o * m_tap_width[2];
        taps.down_in = m_taps[3].as<float>() + o * m_tap_width[3];
        m_dec->set_residual(cache(layer, s), len(s));
        m_dec->run_layers(layer, layer + 1, len(s), nullptr, &taps);
    }
    sync();
}

std::vector<float> CudaScorer::tap_importance(int kind_index) {
    RowMatrix x(m_su.tokens, m_tap_width[kind_index]);
    ck(cudaMemcpy(x.data(), m_taps[kind_index].data(), static_cast<size_t>(x.size()) * 4, cudaMemcpyDeviceToHost),
       "taps to host");
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
    const bool low = !m_ref_img.empty();
    const uint8_t* ref_img = static_cast<const uint8_t*>(m_dec->layer_image(layer));
    if (low) {
        ck(cudaMemcpyAsync(m_ref_img.data(), ref_img, lay.bytes, cudaMemcpyHostToDevice, m_st), "layer image");
        ref_img = m_ref_img.as<uint8_t>();
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
            ck(cudaMemcpyAsync(m_img.data(), ref_img, lay.bytes, cudaMemcpyDeviceToDevice, m_st), "variant image");
            float* wq = reinterpret_cast<float*>(m_img.as<uint8_t>() + slot.weight_off);
            if (f.method == quant::Method::RTN) {
                ck(fake_quantize_rtn(wq, wq, slot.n, slot.k, f.bits, f.block_size, f.symmetric, m_su.scale_dtype, m_st),
                   "fake_quantize_rtn");
            } else {
                if (importance.empty()) importance = tap_importance(ti);
                if (!host_w) host_w = m_tf->layer(layer);
                const auto& w = *host_w;
                const RowMatrix full = ti == 0   ? vcat({w.q, w.k, w.v})
                                       : ti == 1 ? vcat({w.o})
                                       : ti == 2 ? vcat({w.gate, w.up})
                                                 : vcat({w.down});
                const RowMatrix q = quantize_named("unit '" + unit.name + "'", full, f, importance.data());
                ck(cudaMemcpyAsync(wq, q.data(), static_cast<size_t>(q.size()) * 4, cudaMemcpyHostToDevice, m_st),
                   "upload variant");
                sync();
            }
            // Relative output error on the captured inputs.
            double num = 0, den = 0;
            const float* w_ref = reinterpret_cast<const float*>(ref_img + slot.weight_off);
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const float* x = m_taps[ti].as<float>() + static_cast<size_t>(off(s)) * m_tap_width[ti];
                cb(gemm_wt(m_cb, x, w_ref, io::DType::F32, m_y.data(), io::DType::F32, n, static_cast<int>(slot.n),
                           static_cast<int>(slot.k), m_st),
                   "gemm");
                cb(gemm_wt(m_cb, x, wq, io::DType::F32, m_yq.data(), io::DType::F32, n, static_cast<int>(slot.n),
                           static_cast<int>(slot.k), m_st),
                   "gemm");
                const int cnt = n * static_cast<int>(slot.n);
                const float minus_one = -1.0f;
                cb(cublas_saxpy(m_cb, cnt, &minus_one, m_y.as<float>(), 1, m_yq.as<float>(), 1), "saxpy");
                float a = 0, b = 0;
                cb(cublas_snrm2(m_cb, cnt, m_yq.as<float>(), 1, &a), "nrm2");
                cb(cublas_snrm2(m_cb, cnt, m_y.as<float>(), 1, &b), "nrm2");
                num += static_cast<double>(a) * a;
                den += static_cast<double>(b) * b;
            }
            // KL through the rest of the model (exact) or with the residual shortcut (fast).
            double kl = 0;
            if (m_opt.mode == "exact") {
                for (int s = 0; s < m_su.nseq; ++s)
                    ck(cudaMemcpyAsync(hv(s), cache(layer, s), static_cast<size_t>(len(s)) * H * 4, cudaMemcpyDefault,
                                       m_st),
                       "variant input");
                propagate(layer, m_img.data(), 1);
            }
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const float* ref = ref_logits(s);
                if (m_opt.mode == "exact") {
                    m_dec->set_residual(hv(s), n);
                } else {
                    m_dec->set_residual(cache(layer, s), n);
                    m_dec->run_layers(layer, layer + 1, n, m_img.data());
                    const float one = 1.0f, minus_one = -1.0f;
                    const float* fin = cache_on_device(L, s, m_tmp_a);
                    const float* out = cache_on_device(layer + 1, s, m_tmp_b);
                    cb(cublas_set_stream(m_cb, m_st), "set stream");
                    cb(cublas_saxpy(m_cb, n * H, &one, fin, 1, m_dec->residual_device(), 1), "saxpy");
                    cb(cublas_saxpy(m_cb, n * H, &minus_one, out, 1, m_dec->residual_device(), 1), "saxpy");
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
    if (any_kquant) {
        RowMatrix finals(m_su.tokens, H);
        for (int s = 0; s < m_su.nseq; ++s) {
            m_dec->set_residual(cache(L, s), len(s));
            m_dec->final_norm_device(len(s), m_tmp_a.as<float>());
            sync();
            ck(cudaMemcpy(finals.data() + static_cast<size_t>(off(s)) * H, m_tmp_a.data(),
                          static_cast<size_t>(len(s)) * H * 4, cudaMemcpyDeviceToHost),
               "final hidden");
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
            ck(cudaMemcpyAsync(m_head_q.data(), wq.data(), static_cast<size_t>(wq.size()) * 4, cudaMemcpyHostToDevice,
                               m_st),
               "upload table");
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
                    m_dec->embed_residual(m_calib.sequences[static_cast<size_t>(s)], m_head_q.data());
                    m_dec->get_residual(hv(s), len(s));
                }
                propagate(0, nullptr, 1);
            }
            for (int s = 0; s < m_su.nseq; ++s) {
                const int n = len(s);
                const auto& seq = m_calib.sequences[static_cast<size_t>(s)];
                const float* ref = ref_logits(s);
                if (!uses_embed) {
                    m_dec->set_residual(cache(L, s), n);
                } else if (m_opt.mode == "exact") {
                    m_dec->set_residual(hv(s), n);
                } else {  // fast: the embedding change carried unchanged to the final residual stream
                    RowMatrix fin(n, H);
                    sync();
                    ck(cudaMemcpy(fin.data(), cache(L, s), static_cast<size_t>(n) * H * 4, cudaMemcpyDefault), "cache");
                    fin += engine::Transformer::gather_rows(wq, seq) - engine::Transformer::gather_rows(*w, seq);
                    m_dec->set_residual(fin.data(), n);
                }
                m_dec->logits_device(n, m_logits.as<float>(), uses_head ? m_head_q.data() : nullptr);
                kl += kl_sum(ref, m_logits.as<float>(), n);
                if (uses_head) {  // ‖X·ΔWᵀ‖ with X the reference final hidden states (X·Wᵀ is the reference)
                    if (uses_embed) {  // tied: the logits above came from the perturbed stream
                        m_dec->set_residual(cache(L, s), n);
                        m_dec->logits_device(n, m_logits.as<float>(), m_head_q.data());
                    }
                    const int cnt = n * V;
                    const float minus_one = -1.0f;
                    float a = 0, b = 0;
                    cb(cublas_set_stream(m_cb, m_st), "set stream");
                    cb(cublas_saxpy(m_cb, cnt, &minus_one, ref, 1, m_logits.as<float>(), 1), "saxpy");
                    cb(cublas_snrm2(m_cb, cnt, m_logits.as<float>(), 1, &a), "nrm2");
                    cb(cublas_snrm2(m_cb, cnt, ref, 1, &b), "nrm2");
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
    const double C = static_cast<double>(m_su.table.candidates.size());
    m_work_total = static_cast<double>(L) * m_su.nseq;
    for (const auto& [l, us] : m_su.by_layer)
        m_work_total += static_cast<double>(us.size()) * C * m_su.nseq * (m_opt.mode == "exact" ? L - l : 1);
    // (exact: L − l layer steps per sequence; fast: one step per sequence)
    for (size_t u : m_su.head_units) {
        const bool embed = m_model->layout().units[u].kind != io::UnitKind::LmHead;
        m_work_total += C * m_su.nseq * (embed && m_opt.mode == "exact" ? L + 1 : 1);
    }
    DeviceGuard g(m_device);
    reference_pass();
    score_head_units(m_su.head_units);
    for (const auto& [l, us] : m_su.by_layer) score_layer(l, us);
    sync();
    m_job.report(1.0, "scoring", "done");
    m_su.table.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::move(m_su.table);
}

}  // namespace

score::ScoreTable score_model_cuda(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib,
                                   const score::ScoreOptions& opt, const JobContext& job, int device) {
    if (opt.memory == score::MemoryMode::MultiGpu)  // before any device query: the same answer on every machine
        fail("--memory multi_gpu", "the CUDA scorer runs on one device (layer-major passes stream one layer at a time); "
                                   "use low_memory or offload, which fit any model on one GPU");
    std::string why;
    if (!cuda_available(&why, false)) fail(kWhere, why);
    CudaScorer s(std::move(model), calib, opt, job, device);
    return s.run();
}

void install_cuda_scorer() {
    score::AcceleratorScorer b;
    b.name = "cuda";
    b.available = [](std::string* why) { return cuda_available(why, false); };
    b.score = [](std::shared_ptr<const io::Model> m, const score::CalibrationSet& c, const score::ScoreOptions& o,
                 const JobContext& j) { return score_model_cuda(std::move(m), c, o, j, 0); };
    score::install_accelerator_scorer(std::move(b));
}

}  // namespace mixq::gpu
