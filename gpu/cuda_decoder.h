// SPDX-License-Identifier: MIT
// CudaDecoder: the decoder forward pass of an io::Model on CUDA devices (Hugging Face Llama/Qwen semantics, as the
// CPU engine::Transformer), returning fp32 logits, with a KV cache for incremental decoding; decode steps replay a
// captured CUDA graph (full mode).
//  - weights: dense in BF16/F16/F32, or decoder linears quantized (int4/int8, MatMulNBits layout) with
//    the lm_head optionally too; activations F32, BF16 or F16 (the residual stream is always fp32, logits fp32);
//  - memory modes: full (all resident on one device), low_memory (layers stay in pinned host memory and stream to
//    two device slots, the copy of layer i+1 overlapping the compute of layer i on a second stream), multi_gpu
//    (whole layers in contiguous ranges per device by score::place_layers; hidden states copied at boundaries).
// Without a usable device the constructor throws mixq::Error "CUDA unavailable: ..." (use gpu::cuda_available()
// first to take the CPU path).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/tensor.h"
#include "core/engine/transformer.h"
#include "core/io/model.h"
#include "core/quant/quant_format.h"
#include "core/score/memory_mode.h"
#include "gpu/decoder_weights.h"

namespace mixq::gpu {


struct CudaDecoderOptions {
    score::MemoryMode mode = score::MemoryMode::Full;  ///< Full, LowMemory or MultiGpu
    io::DType weight_dtype = io::DType::BF16;          ///< dense weights on the device: F32, BF16, F16
    /// F32, BF16, F16. F32 weights need F32 activations; BF16/F16 dense weights with F32 activations round each
    /// dense GEMM input to the weight dtype (tensor cores), the rest of the pass stays fp32.
    io::DType activation_dtype = io::DType::BF16;
    std::optional<quant::QuantFormat> quant;           ///< 4/8-bit format for the decoder linears; nullopt = dense
    bool quantize_lm_head = false;                     ///< also quantize the lm_head (with `quant`)
    /// Per-layer formats (a mixed-precision plan, see gpu/plan_formats.h): one entry per decoder layer; when not
    /// empty it replaces `quant` and `quantize_lm_head`, and lm_head_format is the lm_head's (nullopt = dense).
    std::vector<LayerFormats> layer_formats;
    std::optional<quant::QuantFormat> lm_head_format;
    int device = 0;                                    ///< full / low_memory
    std::vector<int> devices;            ///< multi_gpu: one entry per part (a device may repeat); empty = all devices
    std::vector<uint64_t> device_budgets;  ///< multi_gpu: bytes per entry of devices; empty = 85% of free memory
    /// multi_gpu: explicit decoder layers per entry of devices (sum = num_layers) instead of score::place_layers
    std::vector<int> layer_split;
    int max_positions = 0;       ///< KV cache capacity; 0 = min(max_position_embeddings, 4096)
    int max_chunk_tokens = 256;  ///< longest prefill chunk (activation buffers are sized for it)
    /// Decode steps (one token, full mode) replay a CUDA graph captured at the first step: one launch per token
    /// instead of ~10 per layer; the position is read from device memory. Falls back to direct launches (with a
    /// log line) if capture fails.
    bool cuda_graphs = true;
    std::function<void(const std::string&)> log;  ///< receives one line per event; default: stderr
};

class CudaDecoder {
public:
    /// Uploads the weights `source` currently uses (overrides and rotation included).
    CudaDecoder(engine::Transformer& source, CudaDecoderOptions opt = {});
    /// Reads the weights of `model` (through a low-memory CPU engine, one layer at a time).
    CudaDecoder(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt = {});
    ~CudaDecoder();
    CudaDecoder(const CudaDecoder&) = delete;
    CudaDecoder& operator=(const CudaDecoder&) = delete;

    const io::ModelConfig& config() const;
    /// Appends ids at positions length().. and returns the logits of each of them [ids.size(), vocab] (fp32).
    engine::RowMatrix forward(const std::vector<int>& ids);
    /// Same, but returns only the logits of the last id [1, vocab] (the lm_head runs on one row).
    engine::RowMatrix forward_last(const std::vector<int>& ids);
    /// Starts a new sequence (empties the KV cache).
    void reset();
    /// Keeps the first n positions (n <= length()); the next forward continues from position n, overwriting the
    /// dropped KV rows. Exact: a dropped position's cache rows are never read again.
    void truncate(int n);
    int length() const;
    int capacity() const;
    /// Turns the decode-step CUDA graph on or off (CudaDecoderOptions::cuda_graphs) for later steps.
    void set_cuda_graphs(bool on);
    /// True once a decode step has run through the captured graph.
    bool decode_graph_active() const;
    /// Per-operation GPU time (one device, direct launches only): when on, each kernel of later forwards is bracketed
    /// by CUDA events and op_times() returns milliseconds summed per operation name ("qkv", "attention", "gate_up",
    /// ..., "gaps+host" is not included: compare the sum with wall time). Turning it on turns the decode graph off.
    void set_op_timing(bool on);
    std::map<std::string, double> op_times() const;
    /// Bytes of weights one decode step reads: every decoder linear as stored plus the lm_head.
    uint64_t weight_bytes_per_token() const;
    /// Decoder layers per part (one entry unless multi_gpu).
    const std::vector<int>& layers_per_device() const;
    /// e.g. "cuda:0 full, weights int4-g128 (scales BF16) + lm_head BF16, activations BF16".
    std::string describe() const;

    // ---- Building blocks of the CUDA scorer (gpu/cuda_scorer.h): one sequence of n <= max_chunk_tokens tokens at
    // positions 0..n-1. Each block runs on one part (one part unless multi_gpu): layers on the part holding them,
    // the embedding on the first part, the final norm and the lm_head on the last; its work is enqueued on that
    // part's compute stream. A block (or use_part) on another part than the previous one first waits for the
    // previous part's stream, so work flows between parts in program order; with one part nothing ever waits.
    /// Linear inputs of one decoder layer, captured while it runs: device pointers (on the layer's part) to
    /// [n, width] rows in the activation dtype (width: hidden, q_dim, hidden, intermediate); null skips one.
    struct LayerTaps {
        void* attn_in = nullptr;
        void* o_in = nullptr;
        void* mlp_in = nullptr;
        void* down_in = nullptr;
    };
    int device() const;                  ///< the first part's device
    int parts() const;                   ///< number of parts (layers_per_device().size())
    int part_of_layer(int l) const;      ///< the part holding decoder layer l
    int part_device(int part) const;     ///< the CUDA device of a part (parts may share a device)
    void* stream(int part = 0) const;    ///< a part's compute stream (cudaStream_t)
    void* cublas(int part = 0) const;    ///< the cuBLAS handle bound to that stream (cublasHandle_t)
    /// Declares that the caller is about to enqueue its own work on stream(part): waits for the previously used
    /// part as a building block would. Does not change the current device.
    void use_part(int part);
    const LayerLayout& layer_layout() const;
    io::DType weight_dtype() const;
    io::DType activation_dtype() const;
    /// Layer l's weight image (layer_layout().bytes): on its part's device (full, multi_gpu) or in pinned host
    /// memory (low_memory); copy it with cudaMemcpyDefault.
    const void* layer_image(int l) const;
    /// First part: residual [n, hidden] fp32 = rows of the embedding table (`table`: a [vocab, hidden] matrix in the
    /// weight dtype on the first part's device, or null for the decoder's own). Ids are checked against the vocabulary.
    void embed_residual(const std::vector<int>& ids, const void* table = nullptr);
    /// A part's residual = src / dst = that residual (n rows, fp32; src/dst on the host or any device,
    /// cudaMemcpyDefault), on that part's stream.
    void set_residual(const float* src, int n, int part = 0);
    void get_residual(float* dst, int n, int part = 0);
    float* residual_device(int part = 0);  ///< a part's residual stream buffer [max_chunk_tokens, hidden] fp32
    /// Runs decoder layers [first, last) (all on one part) over that part's residual; `first_image` (on the part's
    /// device, layer_layout()) replaces layer first's weights, `taps` captures layer first's linear inputs.
    void run_layers(int first, int last, int n, const void* first_image = nullptr, const LayerTaps* taps = nullptr);
    /// Last part: out [n, vocab] fp32 (its device) = lm_head(final_norm(residual)); `head`: a dense [vocab, hidden]
    /// matrix in the weight dtype on that device replacing the lm_head, or null.
    void logits_device(int n, float* out, const void* head = nullptr);
    /// Last part: the final norm of its residual, fp32 [n, hidden] rows into dst (its device).
    void final_norm_device(int n, float* dst);

private:
    struct Impl;
    std::unique_ptr<Impl> m;
};

}  // namespace mixq::gpu
