// SPDX-License-Identifier: MIT
// CudaDecoder: setup (options checked, every layer's image laid out, then placement, upload and description) and
// the public class, which forwards to Impl (gpu/cuda_decoder_impl.h; one file per job beside this one).
#include "gpu/cuda_decoder_impl.h"

#include <algorithm>

#include "core/common/error.h"
#include "gpu/attention.cuh"

namespace mixq::gpu {

using namespace decoder_detail;

CudaDecoder::Impl::~Impl() {
    for (auto& p : parts)
        if (p.compute) cudaStreamSynchronize(p.compute->get());
    if (graph_exec) {
        DeviceGuard g(parts.front().device);
        cudaGraphExecDestroy(graph_exec);
    }
    for (auto& p : parts)
        if (p.copy) cudaStreamSynchronize(p.copy->get());
}

void CudaDecoder::Impl::init(engine::Transformer& src, CudaDecoderOptions o) {
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
