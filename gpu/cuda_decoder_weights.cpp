// SPDX-License-Identifier: MIT
// CudaDecoder weights: the upload of norms, layer images (gpu/decoder_weights.h layouts), embedding and lm_head
// to every part with its activation buffers and KV cache, and low_memory streaming (layers in pinned host memory,
// copied into two device slots on the copy stream while the previous layer computes).
#include "gpu/cuda_decoder_impl.h"

#include <algorithm>
#include <cstring>

#include "core/engine/rope.h"
#include "core/io/model_layout.h"

namespace mixq::gpu {

using namespace decoder_detail;

std::optional<quant::QuantFormat> CudaDecoder::Impl::head_format() const {
    if (!opt.layer_formats.empty())
        return opt.lm_head_format && !opt.lm_head_format->is_float() ? opt.lm_head_format : std::nullopt;
    return opt.quantize_lm_head ? opt.quant : std::nullopt;
}

void CudaDecoder::Impl::upload(engine::Transformer& src) {
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

const uint8_t* CudaDecoder::Impl::image(Part& p, int l) const {
    if (opt.mode == score::MemoryMode::LowMemory) return at<uint8_t>(p.slots, max_bytes * static_cast<size_t>(l % 2));
    return at<uint8_t>(p.layers, layer_off[l] - layer_off[p.first]);
}

void CudaDecoder::Impl::prefetch(Part& p, int l) {
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

}  // namespace mixq::gpu
