// SPDX-License-Identifier: MIT
// CudaDecoder's state (private to gpu/cuda_decoder*.cpp): the per-device parts and the decoder's members, declared
// once and defined by job — cuda_decoder.cpp (setup and the public class), cuda_decoder_placement.cpp (memory
// mode, layers per device, sizes), cuda_decoder_weights.cpp (upload, low_memory streaming),
// cuda_decoder_forward.cpp (the kernel sequence of a forward, op timing), cuda_decoder_graph.cpp (decode-step CUDA
// graph) and cuda_decoder_blocks.cpp (the CUDA scorer's building blocks).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpu/cuda_decoder.h"
#include "gpu/cuda_resources.h"
#include "gpu/decoder_weights.h"
#include "gpu/dense_gemm.h"

namespace mixq::gpu {

namespace decoder_detail {

inline constexpr const char* kWhere = "CudaDecoder";
inline constexpr int kLogitRows = 64;        // lm_head rows per launch when every position's logits are wanted
inline constexpr int kDecodeMaxSplits = 64;  // sequence splits of the decode attention
// Quantized linears over at least this many rows are dequantized into a dense scratch matrix and run by cuBLAS
// (prefill); fewer rows use the MatMulNBits GEMV/GEMM kernels directly (decode).
inline constexpr int kDequantGemmRows = 32;
inline constexpr uint64_t kMaxDequantScratch = 512ull << 20;  // larger scratch: stay on the MatMulNBits GEMM kernel

inline void ck(cudaError_t e, const char* what) { check_cuda(e, std::string(kWhere) + ": " + what); }

inline size_t dsize(io::DType t) { return io::dtype_size(t); }

template <class T>
T* at(const DeviceBuffer& b, size_t byte_offset) {
    return reinterpret_cast<T*>(static_cast<char*>(b.data()) + byte_offset);
}

inline std::string mib(uint64_t b) { return std::to_string((b + (1u << 19)) >> 20) + " MiB"; }

}  // namespace decoder_detail

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
    int L = 0, H = 0, Q = 0, KV = 0, QKV = 0, I = 0, nh = 0, nkv = 0, d = 0, V = 0;
    int cap = 0, chunk = 0, length = 0;
    int run_end = 0;  // layers at or past this are not prefetched (end of the current run)
    float eps = 1e-6f;
    size_t norm_stride = 0;  // floats per layer in the norms buffer
    size_t ws_floats = 0;
    uint64_t weight_bytes = 0;
    std::string description;
    int active_part = -1;  // the part the last building block (or the caller, through use_part) enqueued work on

    ~Impl();

    void log(const std::string& line) const {
        if (opt.log) opt.log(line);
        else std::fprintf(stderr, "%s\n", line.c_str());
    }

    // ---- setup (cuda_decoder.cpp): checks the options, lays out every layer's image, then places and uploads
    void init(engine::Transformer& src, CudaDecoderOptions o);

    // ---- placement (cuda_decoder_placement.cpp)
    uint64_t kv_bytes_per_layer() const { return static_cast<uint64_t>(cap) * 2 * KV * decoder_detail::dsize(act); }
    uint64_t embed_bytes() const { return static_cast<uint64_t>(V) * H * decoder_detail::dsize(wdt); }
    uint64_t activation_bytes() const;
    /// Bytes of the dense scratch for the largest quantized linear in the activation dtype (0 when not used).
    uint64_t dequant_scratch_bytes() const;
    /// Resolves the memory mode and splits the layers into parts (one unless multi_gpu).
    void place();
    /// The one-line description (describe()) and its log line.
    void describe_setup();

    // ---- weights (cuda_decoder_weights.cpp)
    std::optional<quant::QuantFormat> head_format() const;
    /// Norms, layer images, embedding and lm_head onto the parts (or into pinned memory for low_memory), and the
    /// activation buffers and KV cache of every part.
    void upload(engine::Transformer& src);
    /// Layer l's image on part p: its place in p.layers, or (low_memory) the slot it streams into.
    const uint8_t* image(Part& p, int l) const;
    /// low_memory: starts copying layer l into its slot on p's copy stream (nothing past run_end or p's layers).
    void prefetch(Part& p, int l);

    // ---- forward (cuda_decoder_forward.cpp)
    void tick(const char* name, cudaStream_t s);
    /// Closes the intervals of this forward (waits for the stream).
    void collect_ticks(cudaStream_t s);
    /// y = x·Wᵀ (+bias) for `rows` rows; y in y_dt (act or F32).
    void linear(Part& p, const LinearSlot& s, const uint8_t* base, const void* x, void* y, io::DType y_dt, int rows);
    void tap(const void* src, void* dst, int n, int width, cudaStream_t s);
    void run_layer(Part& p, int l, int n, int pos0, bool& x_ready, const uint8_t* override_image = nullptr,
                   const CudaDecoder::LayerTaps* taps = nullptr);
    /// Runs n tokens at positions pos0.. through every layer; leaves the final-norm rows in the last part's x.
    void run_chunk(const int* ids, int n, int pos0);
    /// Logits of rows [r0, r0 + rows) of the last part's x into out rows [o0, o0 + rows).
    void logits(int r0, int rows, engine::RowMatrix& out, int o0);
    engine::RowMatrix run(const std::vector<int>& ids, bool all);

    // ---- decode graph (cuda_decoder_graph.cpp)
    bool graph_eligible() const;
    /// One decode step (token `id` at position `length`) through the captured graph, logits into out_row (V
    /// floats); false when graphs are off or capture failed (the caller then launches the kernels itself).
    bool decode_graph(int id, float* out_row);
    bool capture_decode_graph(Part& p);

    // ---- scorer building blocks (cuda_decoder_blocks.cpp)
    /// Makes part pi the active one; when another part was active, waits for its compute stream first, so work
    /// enqueued on pi sees everything enqueued before on the other part (one part: never waits).
    Part& use(int pi);
    int part_of(int l) const;
    int last_part() const { return static_cast<int>(parts.size()) - 1; }
    void check_rows(int n) const;
    void embed_residual(const std::vector<int>& ids, const void* table);
    void copy_residual(int part, void* dst, const void* src, int n);
    void run_layers(int first, int last, int n, const void* first_image, const CudaDecoder::LayerTaps* taps);
    void final_norm(int n, void* dst, io::DType dt);
    void logits_device(int n, float* out, const void* head);
};

}  // namespace mixq::gpu
