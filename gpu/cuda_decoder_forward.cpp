// SPDX-License-Identifier: MIT
// CudaDecoder forward pass: the kernel sequence of a layer
//   [rms_norm] → qkv linear (+bias) → [q/k norm] → RoPE(q|k) → K|V into the cache → attention → o linear →
//   residual += o, x = post_norm → gate|up linear → silu·mul → down linear → residual += down, x = next norm;
// chunks of tokens through every part, the lm_head, and the op timing of set_op_timing.
#include "gpu/cuda_decoder_impl.h"

#include <algorithm>
#include <cstring>

#include "core/common/error.h"
#include "gpu/attention.cuh"
#include "gpu/elementwise.cuh"
#include "gpu/nbits_matmul.cuh"
#include "gpu/rms_norm.cuh"
#include "gpu/rope.cuh"
#include "gpu/silu_mul.cuh"

namespace mixq::gpu {

using namespace decoder_detail;

void CudaDecoder::Impl::tick(const char* name, cudaStream_t s) {
    if (!timing) return;
    if (ticks == tick_events.size()) tick_events.emplace_back(true);
    if (tick_names.size() <= ticks) tick_names.resize(ticks + 1);
    tick_events[ticks].record(s);
    tick_names[ticks] = name;
    ++ticks;
}

void CudaDecoder::Impl::collect_ticks(cudaStream_t s) {
    if (!timing || ticks == 0) return;
    tick(nullptr, s);
    tick_events[ticks - 1].synchronize();
    for (size_t i = 0; i + 1 < ticks; ++i)
        op_ms[tick_names[i]] += tick_events[i + 1].elapsed_ms_since(tick_events[i]);
    ticks = 0;
}

void CudaDecoder::Impl::linear(Part& p, const LinearSlot& s, const uint8_t* base, const void* x, void* y, io::DType y_dt,
                               int rows) {
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

void CudaDecoder::Impl::tap(const void* src, void* dst, int n, int width, cudaStream_t s) {
    if (dst) ck(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * width * dsize(act), cudaMemcpyDeviceToDevice, s), "tap");
}

void CudaDecoder::Impl::run_layer(Part& p, int l, int n, int pos0, bool& x_ready, const uint8_t* override_image,
                                  const CudaDecoder::LayerTaps* taps) {
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

void CudaDecoder::Impl::run_chunk(const int* ids, int n, int pos0) {
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

void CudaDecoder::Impl::logits(int r0, int rows, engine::RowMatrix& out, int o0) {
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

engine::RowMatrix CudaDecoder::Impl::run(const std::vector<int>& ids, bool all) {
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

}  // namespace mixq::gpu
