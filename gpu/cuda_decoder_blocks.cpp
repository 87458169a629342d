// SPDX-License-Identifier: MIT
// CudaDecoder building blocks of the CUDA scorer (gpu/cuda_scorer.cpp): embedding into a part's residual,
// residual copies, runs of layers on cached inputs with an override image and taps, final norm and logits; work
// flows between parts in program order (use()).
#include "gpu/cuda_decoder_impl.h"

#include <cstring>

#include "core/common/error.h"
#include "gpu/elementwise.cuh"
#include "gpu/rms_norm.cuh"

namespace mixq::gpu {

using namespace decoder_detail;

Part& CudaDecoder::Impl::use(int pi) {
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

int CudaDecoder::Impl::part_of(int l) const {
    for (size_t i = 0; i < parts.size(); ++i)
        if (l >= parts[i].first && l < parts[i].first + parts[i].count) return static_cast<int>(i);
    fail(kWhere, "no part holds layer " + std::to_string(l));
}

void CudaDecoder::Impl::check_rows(int n) const {
    if (n < 1 || n > chunk)
        fail(kWhere, "scoring sequence of " + std::to_string(n) + " tokens exceeds max_chunk_tokens " +
                         std::to_string(chunk));
}

void CudaDecoder::Impl::embed_residual(const std::vector<int>& ids, const void* table) {
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

void CudaDecoder::Impl::copy_residual(int part, void* dst, const void* src, int n) {
    Part& p = use(part);
    check_rows(n);
    DeviceGuard g(p.device);
    ck(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * H * 4, cudaMemcpyDefault, p.compute->get()), "residual copy");
}

void CudaDecoder::Impl::run_layers(int first, int last, int n, const void* first_image,
                                   const CudaDecoder::LayerTaps* taps) {
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

void CudaDecoder::Impl::final_norm(int n, void* dst, io::DType dt) {
    Part& p = use(last_part());
    check_rows(n);
    DeviceGuard g(p.device);
    ck(rms_norm(p.residual.data(), io::DType::F32, p.norms.as<float>() + norm_stride * L, dst, dt, n, H, eps,
                p.compute->get()),
       "final norm");
}

void CudaDecoder::Impl::logits_device(int n, float* out, const void* head) {
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

}  // namespace mixq::gpu
