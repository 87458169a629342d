// SPDX-License-Identifier: MIT
// CudaDecoder decode-step graph: in full mode on one device, the first one-token step is captured as a CUDA graph
// (position read from device memory) and every later step replays it; a failed capture is logged once and steps
// launch their kernels directly from then on.
#include "gpu/cuda_decoder_impl.h"

#include <cstring>

#include "gpu/elementwise.cuh"
#include "gpu/rms_norm.cuh"

namespace mixq::gpu {

using namespace decoder_detail;

bool CudaDecoder::Impl::graph_eligible() const {
    return opt.cuda_graphs && !graph_broken && !timing && parts.size() == 1 &&
           opt.mode == score::MemoryMode::Full;
}

bool CudaDecoder::Impl::decode_graph(int id, float* out_row) {
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

bool CudaDecoder::Impl::capture_decode_graph(Part& p) {
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

}  // namespace mixq::gpu
