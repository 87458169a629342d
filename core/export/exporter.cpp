// SPDX-License-Identifier: MIT
// The ONNX Runtime GenAI decoder graph (node names as the genai model builder writes them, see
// docs onnx-export-format §3) with weights streamed into model.onnx.data, and the output folder around it.
#include "core/export/exporter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/input_file.h"
#include "core/engine/rope.h"
#include "core/export/genai_config.h"
#include "core/export/graph_builder.h"
#include "core/export/onnx_check.h"
#include "core/export/weight_stream.h"
#include "core/plan/model_check.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"

namespace mixq::exporter {

namespace fs = std::filesystem;
using io::TensorNames;
using quant::QuantFormat;

const char* qkv_mode_name(QkvMode m) { return m == QkvMode::Packed ? "packed" : "unpacked"; }
const char* tied_mode_name(TiedMode m) {
    switch (m) {
        case TiedMode::Auto: return "auto";
        case TiedMode::On: return "on";
        case TiedMode::Off: return "off";
    }
    return "?";
}
QkvMode parse_qkv_mode(const std::string& s) {
    if (s == "packed") return QkvMode::Packed;
    if (s == "unpacked") return QkvMode::Unpacked;
    fail("--qkv", "expected packed or unpacked, got '" + s + "'");
}
TiedMode parse_tied_mode(const std::string& s) {
    if (s == "auto") return TiedMode::Auto;
    if (s == "on") return TiedMode::On;
    if (s == "off") return TiedMode::Off;
    fail("--tied-embeddings", "expected auto, on or off, got '" + s + "'");
}

const char* target_name(Target t) { return t == Target::Cpu ? "cpu" : t == Target::Cuda ? "cuda" : "dml"; }
Target parse_target(const std::string& s) {
    if (s == "cpu") return Target::Cpu;
    if (s == "cuda") return Target::Cuda;
    if (s == "dml") return Target::Dml;
    fail("--target", "expected cpu, cuda or dml, got '" + s + "'");
}
int default_accuracy_level(Target t) { return t == Target::Cpu ? 4 : 0; }

int parse_accuracy_level(const std::string& s) {
    if (s.size() == 1 && s[0] >= '0' && s[0] <= '4') return s[0] - '0';
    fail("--accuracy-level", "expected 0, 1, 2, 3 or 4, got '" + s + "'");
}

namespace {

constexpr int kIrVersion = 8;         // the newest IR Debian's onnx 1.12 checker accepts
constexpr int64_t kOnnxOpset = 17;    // the newest ai.onnx opset it knows
constexpr int64_t kMsOpset = 1;
constexpr const char* kMs = "com.microsoft";
constexpr const char* kDataFile = "model.onnx.data";
constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kUint8 = onnx::TensorProto::UINT8;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int kInt32 = onnx::TensorProto::INT32;

/// "/model/layers.0/attn/qkv_proj" -> "model.layers.0.attn.qkv_proj" (the builder's initializer prefix).
std::string dotted(const std::string& node_base) {
    std::string s = node_base.substr(node_base.rfind('/', 0) == 0 ? 1 : 0);
    for (char& c : s)
        if (c == '/') c = '.';
    return s;
}

std::string read_file(const fs::path& p) { return mixq::read_input_file(p, mixq::kMaxTokenizerBytes); }

/// Names of the initializers of one quantized matrix.
struct QuantTensors {
    std::string packed, scales, zero_points;  ///< zero_points "" when symmetric
    QuantizedRegions regions;
    QuantFormat format;
};

class Emitter {
public:
    Emitter(const io::Model& model, const plan::Plan& plan, const ExportOptions& opt, const JobContext& job,
            const fs::path& dir, ExportResult& res)
        : m_model(model), m_cfg(model.config()), m_layout(model.layout()), m_opt(opt), m_job(job), m_res(res),
          m_g(kIrVersion, kOnnxOpset, kMsOpset, kDataFile),
          m_data(dir.empty() ? ExternalDataWriter() : ExternalDataWriter(dir / kDataFile)), m_store(model.weight_dtype()),
          // The engine's Rotation takes shared ownership; the model outlives the export call, so a non-owning one.
          m_rot(plan::plan_rotation(std::shared_ptr<const io::Model>(&model, [](const io::Model*) {}), plan)) {
        // Rotated weights are not representable in 16 bits: float data then stays fp32 (exactly the scored model).
        if (m_rot) m_store = io::DType::F32;
        // float16 graphs hold every float tensor in fp16 (bf16 and fp32 sources rounded to nearest even).
        if (opt.target != Target::Cpu) m_store = io::DType::F16;
        for (const auto& u : m_layout.units) {
            const plan::PlannedUnit* pu = plan.find(u.name);
            if (!pu) ++m_res.units_not_in_plan;
            const QuantFormat f = pu ? pu->format : QuantFormat::float16();
            if (!f.is_float() && f.bits != 4 && f.bits != 8)
                fail("plan", "unit '" + u.name + "' has format " + f.name() + "; only int4, int8 and 16-bit export");
            m_formats[u.name] = f;
            m_total += u.numel();
        }
    }

    void build() {
        const auto& c = m_cfg;
        if (c.hidden_act != "silu")
            fail(m_model.dir().string(), "hidden_act '" + c.hidden_act + "' is not supported by the exporter (silu only)");
        check_attention_shapes();
        if (m_opt.tied == TiedMode::On && !m_layout.tied_embeddings)
            fail("--tied-embeddings on", m_model.dir().string() + " does not tie its embeddings (it has lm_head.weight)");
        m_shared = m_layout.tied_embeddings && m_opt.tied != TiedMode::Off;
        if (m_layout.tied_embeddings && !m_shared) m_total += int64_t(c.vocab_size) * c.hidden_size;
        m_res.tied_shared = m_shared;
        m_res.qkv_packed = m_opt.qkv == QkvMode::Packed;
        m_res.gate_up_fused = m_opt.fuse_gate_up;

        declare_io();
        attention_mask_subgraph();
        std::string hidden = embedding();
        rope_caches();
        std::string root = hidden, skip;
        for (int i = 0; i < c.num_layers; ++i) layer(i, root, skip);
        const std::string L = "/model/layers." + std::to_string(c.num_layers) + "/final_norm_layernorm";
        const std::string w = vector_init("model.layers." + std::to_string(c.num_layers) + ".final_norm_layernorm.weight",
                                          {{TensorNames::final_norm(), 0, c.hidden_size}});
        auto& n = m_g.node("SkipSimplifiedLayerNormalization", L + "/SkipLayerNorm", {root, skip, w}, {L + "/output_0"}, kMs);
        GraphBuilder::attr(n, "epsilon", static_cast<float>(c.rms_norm_eps));
        lm_head(L + "/output_0");
    }

    GraphBuilder& graph() { return m_g; }

    /// ONNX Runtime's CPU GroupQueryAttention (group_query_attention_helper.h) refuses at run time what it cannot
    /// run; refuse it here instead, so no export fails later inside ORT. (Heads that the KV heads do not divide
    /// are refused when the model is loaded.)
    void check_attention_shapes() const {
        const auto& c = m_cfg;
        const std::string dir = m_model.dir().string() + "/config.json";
        if (c.head_dim % 16 != 0)
            fail(dir, "head_dim " + std::to_string(c.head_dim) +
                          " is not a multiple of 16, which ONNX Runtime's GroupQueryAttention with rotary embedding "
                          "needs on the CPU; this model cannot be exported");
    }
    ExternalDataWriter& data() { return m_data; }

private:
    const io::Model& m_model;
    const io::ModelConfig& m_cfg;
    const io::ModelLayout& m_layout;
    const ExportOptions& m_opt;
    const JobContext& m_job;
    ExportResult& m_res;
    GraphBuilder m_g;
    ExternalDataWriter m_data;
    /// Storage of float data (16-bit weights, norms, biases, scales): the model's dtype, so a BF16/F16 checkpoint's
    /// 16-bit units take 16 bits in the file, exactly the stored values.
    io::DType m_store = io::DType::F32;
    /// The plan's rotation (null for "none"): every weight is written rotated and norm-folded, as scored.
    std::shared_ptr<const engine::Rotation> m_rot;
    std::map<std::string, QuantFormat> m_formats;
    bool m_shared = false;
    int64_t m_total = 0, m_done = 0;
    std::string m_seqlens_k, m_total_len;
    QuantTensors m_tied_quant;    ///< shared quantized table (tied, shared, quantized)
    std::string m_tied_float;     ///< shared fp32 table (tied, shared, 16-bit)

    const QuantFormat& format(const std::string& unit) const { return m_formats.at(unit); }

    ChunkFn tick(const std::string& item) {
        return [this, item](int64_t w) {
            m_done += w;
            m_job.report(m_total > 0 ? 0.95 * double(m_done) / double(m_total) : 0.95, "export", item);
        };
    }

    RowSource source(std::vector<RowSegment> segs) const { return RowSource(m_model.weights(), std::move(segs), m_rot.get()); }

    /// A 1-D tensor of the file in the export's basis (engine::Rotation::transform_vector when rotated).
    std::vector<float> read_vector(const std::string& tensor) const {
        std::vector<float> v = m_model.weights().read_f32(tensor);
        if (!m_rot) return v;
        const engine::Vector r = m_rot->transform_vector(tensor, Eigen::Map<const engine::Vector>(v.data(), int64_t(v.size())));
        return std::vector<float>(r.data(), r.data() + r.size());
    }

    // ---- initializers -------------------------------------------------------------------------------------

    struct VecPart {
        std::string tensor;
        int64_t offset = 0, length = 0;
    };
    /// The ONNX element type of float data stored in the model's 16-bit dtype (fp32 for an F32 model).
    int store_type() const {
        return m_store == io::DType::BF16 ? onnx::TensorProto::BFLOAT16 : m_store == io::DType::F16 ? onnx::TensorProto::FLOAT16 : kFloat;
    }
    /// Scales are rounded to the model's dtype, as plan::apply_plan_fake_quant rounds them; a float16 graph then
    /// stores them in fp16, which holds every bf16 value in fp16's normal range (|s| >= 6.1e-5) exactly.
    io::DType scale_dtype() const { return m_model.weight_dtype(); }
    /// The graph's activation type: float32 on cpu, float16 on cuda / dml.
    int act_type() const { return m_opt.target == Target::Cpu ? kFloat : onnx::TensorProto::FLOAT16; }
    /// `name` as float32 for the fp32 graph: a Cast of the 16-bit initializer (ONNX Runtime folds it into a float32
    /// constant when the session starts, so it costs nothing per token), or `name` itself for an F32 model.
    std::string as_fp32(const std::string& name) {
        if (store_type() == act_type()) return name;
        const std::string out = name + "_fp32";
        auto& n = m_g.node("Cast", name + "/Cast", {name}, {out});
        GraphBuilder::attr(n, "to", int64_t(act_type()));
        return out;
    }

    /// A 1-D initializer from (parts of) 1-D tensors of the file, stored in the model's dtype; returns its float32
    /// value name.
    std::string vector_init(const std::string& name, const std::vector<VecPart>& parts) {
        if (m_data.counting()) {
            int64_t n = 0;
            for (const auto& p : parts) n += p.length;
            m_g.external_initializer(name, store_type(), {n}, m_data.reserve(name, uint64_t(n) * io::dtype_size(m_store)));
            return as_fp32(name);
        }
        std::vector<float> v;
        for (const auto& p : parts) {
            const std::vector<float> all = read_vector(p.tensor);
            if (p.offset + p.length > static_cast<int64_t>(all.size()))
                fail(p.tensor, "has " + std::to_string(all.size()) + " values, expected at least " +
                                   std::to_string(p.offset + p.length));
            v.insert(v.end(), all.begin() + p.offset, all.begin() + p.offset + p.length);
        }
        m_data.begin(v.size() * io::dtype_size(m_store));
        const auto& first = m_model.weights().info(parts.front().tensor);
        write_as(m_data, v.data(), v.size(), m_store,
                 m_model.weights().files()[static_cast<size_t>(first.file_index)].string() + ": tensor '" +
                     parts.front().tensor + "'");
        m_g.external_initializer(name, store_type(), {static_cast<int64_t>(v.size())}, m_data.end(name));
        return as_fp32(name);
    }

    /// The rows of `src` in the model's 16-bit dtype, transposed to [K, N] (a MatMul weight) or not (a table).
    DataRegion float_data(const RowSource& src, bool transposed, const std::string& name) {
        m_job.check_cancel();
        if (m_data.counting())
            return m_data.reserve(name, static_cast<uint64_t>(src.rows() * src.cols()) * io::dtype_size(m_store));
        return transposed ? write_float_transposed(m_data, src, m_store, name, tick(name))
                          : write_float_rows(m_data, src, m_store, name, tick(name));
    }

    /// Quantized tensors `<base>_Q{bits}G{bs}`, `<base>_scale`, `<base>_zp` (the ORT RTN/k-quant names).
    /// packed_3d: B as [N, k_blocks, blob] (MatMulNBits); else [N, k_blocks·blob] (GatherBlockQuantized).
    QuantTensors quantized_init(const std::string& base, const RowSource& src, const QuantFormat& f, bool packed_3d) {
        m_job.check_cancel();
        QuantTensors t;
        t.format = f;
        t.packed = base + "_Q" + std::to_string(f.bits) + "G" + std::to_string(f.block_size);
        t.scales = base + "_scale";
        t.regions = m_data.counting()
                        ? reserve_quantized(m_data, src.rows(), src.cols(), f, m_store, t.packed)
                        : write_quantized(m_data, src, f, scale_dtype(), m_store, t.packed, tick(base));
        const auto& r = t.regions;
        if (packed_3d)
            m_g.external_initializer(t.packed, kUint8, {r.n, r.k_blocks, r.blob_size}, r.packed);
        else
            m_g.external_initializer(t.packed, kUint8, {r.n, r.k_blocks * r.blob_size}, r.packed);
        m_g.external_initializer(t.scales, store_type(), {r.n, r.k_blocks}, r.scales);
        t.scales = as_fp32(t.scales);
        if (r.has_zero_points()) {
            t.zero_points = base + "_zp";
            m_g.external_initializer(t.zero_points, kUint8, {r.n, r.zp_row_bytes}, r.zero_points);
        }
        return t;
    }

    // ---- nodes --------------------------------------------------------------------------------------------

    std::string matmul_nbits(const std::string& node_base, const std::string& input, const QuantTensors& t,
                             const std::string& out_name) {
        const std::string out = out_name.empty() ? node_base + "/MatMul/output_0" : out_name;
        std::vector<std::string> ins = {input, t.packed, t.scales};
        if (!t.zero_points.empty()) ins.push_back(t.zero_points);
        auto& n = m_g.node("MatMulNBits", node_base + "/MatMul_Q" + std::to_string(t.format.bits), ins, {out}, kMs);
        GraphBuilder::attr(n, "K", t.regions.k);
        GraphBuilder::attr(n, "N", t.regions.n);
        GraphBuilder::attr(n, "bits", int64_t(t.format.bits));
        GraphBuilder::attr(n, "block_size", int64_t(t.format.block_size));
        GraphBuilder::attr(n, "accuracy_level", int64_t(m_opt.accuracy_level));
        ++m_res.matmul_nbits;
        return out;
    }

    /// A linear layer y = x·Wᵀ for W = the rows of `segs`: MatMulNBits when `f` quantizes, else a float MatMul
    /// on the [K, N] fp32 initializer `<prefix>.MatMul.weight`.
    std::string linear(const std::string& node_base, const std::string& input, std::vector<RowSegment> segs,
                       const QuantFormat& f, const std::string& out_name = "") {
        const RowSource src = source(std::move(segs));
        const std::string wname = dotted(node_base) + ".MatMul.weight";
        if (!f.is_float()) return matmul_nbits(node_base, input, quantized_init(wname, src, f, true), out_name);
        const DataRegion r = float_data(src, true, wname);
        m_g.external_initializer(wname, store_type(), {src.cols(), src.rows()}, r);
        const std::string out = out_name.empty() ? node_base + "/MatMul/output_0" : out_name;
        m_g.node("MatMul", node_base + "/MatMul", {input, as_fp32(wname)}, {out});
        ++m_res.float_matmuls;
        return out;
    }

    std::string add_bias(const std::string& node_base, const std::string& input, const std::vector<VecPart>& parts) {
        const std::string b = vector_init(dotted(node_base) + ".Add.bias", parts);
        const std::string out = node_base + "/Add/output_0";
        m_g.node("Add", node_base + "/Add", {input, b}, {out});
        return out;
    }

    std::vector<std::string> split(const std::string& node_base, const std::string& input,
                                   const std::vector<int64_t>& sizes) {
        std::vector<std::string> outs;
        for (size_t i = 0; i < sizes.size(); ++i) outs.push_back(node_base + "/Split/output_" + std::to_string(i));
        auto& n = m_g.node("Split", node_base + "/Split", {input, m_g.const_i64(sizes)}, outs);
        GraphBuilder::attr(n, "axis", int64_t(-1));
        return outs;
    }

    void rms_attrs(onnx::NodeProto& n) {
        GraphBuilder::attr(n, "epsilon", static_cast<float>(m_cfg.rms_norm_eps));
        GraphBuilder::attr(n, "axis", int64_t(-1));
        GraphBuilder::attr(n, "stash_type", int64_t(1));
    }

    /// SkipSimplifiedLayerNormalization with outputs [output_0, "", "", output_3]; returns {normed, sum}.
    std::pair<std::string, std::string> skip_norm(const std::string& base, const std::string& root,
                                                  const std::string& skip, const std::string& weight) {
        const std::string o0 = base + "/output_0", o3 = base + "/output_3";
        auto& n = m_g.node("SkipSimplifiedLayerNormalization", base + "/SkipLayerNorm", {root, skip, weight},
                           {o0, "", "", o3}, kMs);
        GraphBuilder::attr(n, "epsilon", static_cast<float>(m_cfg.rms_norm_eps));
        return {o0, o3};
    }

    /// Qwen3 per-head RMSNorm of q or k: Reshape to [B, S·heads, head_dim], norm, Reshape back.
    std::string head_norm(const std::string& base, const std::string& input, const std::string& tensor, int64_t width) {
        const int64_t D = m_cfg.head_dim;
        const std::string w = vector_init(dotted(base) + ".layernorm.weight", {{tensor, 0, D}});
        m_g.node("Reshape", base + "/Reshape_1", {input, m_g.const_i64({0, -1, D})}, {base + "/Reshape_1/output_0"});
        auto& n = m_g.node("SimplifiedLayerNormalization", base + "/SimplifiedLayerNormalization",
                           {base + "/Reshape_1/output_0", w}, {base + "/SimplifiedLayerNormalization/output_0"});
        rms_attrs(n);
        m_g.node("Reshape", base + "/Reshape_2", {base + "/SimplifiedLayerNormalization/output_0", m_g.const_i64({0, -1, width})},
                 {base + "/Reshape_2/output_0"});
        return base + "/Reshape_2/output_0";
    }

    // ---- graph sections -----------------------------------------------------------------------------------

    void declare_io() {
        const auto& c = m_cfg;
        m_g.input("input_ids", kInt64, {std::string("batch_size"), std::string("sequence_length")});
        m_g.input("attention_mask", kInt64, {std::string("batch_size"), std::string("total_sequence_length")});
        const std::vector<Dim> past = {std::string("batch_size"), int64_t(c.num_kv_heads),
                                       std::string("past_sequence_length"), int64_t(c.head_dim)};
        const std::vector<Dim> present = {std::string("batch_size"), int64_t(c.num_kv_heads),
                                          std::string("total_sequence_length"), int64_t(c.head_dim)};
        for (const char* kv : {"key", "value"})
            for (int i = 0; i < c.num_layers; ++i)
                m_g.input("past_key_values." + std::to_string(i) + "." + kv, act_type(), past);
        m_g.output("logits", act_type(), {std::string("batch_size"), std::string("sequence_length"), int64_t(c.vocab_size)});
        for (const char* kv : {"key", "value"})
            for (int i = 0; i < c.num_layers; ++i) m_g.output("present." + std::to_string(i) + "." + kv, act_type(), present);
    }

    void attention_mask_subgraph() {
        const std::string P = "/model/attn_mask_reformat/attn_mask_subgraph";
        auto& rs = m_g.node("ReduceSum", P + "/ReduceSum", {"attention_mask", m_g.const_i64({1})}, {P + "/ReduceSum/output_0"});
        GraphBuilder::attr(rs, "keepdims", int64_t(0));
        m_g.node("Sub", P + "/Sub", {P + "/ReduceSum/output_0", m_g.const_i64({1})}, {P + "/Sub/output_0"});
        auto& c1 = m_g.node("Cast", P + "/Sub/Cast", {P + "/Sub/output_0"}, {P + "/Sub/Cast/output_0"});
        GraphBuilder::attr(c1, "to", int64_t(kInt32));
        m_g.node("Shape", P + "/Shape", {"attention_mask"}, {P + "/Shape/output_0"});
        auto& ga = m_g.node("Gather", P + "/Gather", {P + "/Shape/output_0", m_g.const_i64_scalar(1)}, {P + "/Gather/output_0"});
        GraphBuilder::attr(ga, "axis", int64_t(0));
        auto& c2 = m_g.node("Cast", P + "/Gather/Cast", {P + "/Gather/output_0"}, {P + "/Gather/Cast/output_0"});
        GraphBuilder::attr(c2, "to", int64_t(kInt32));
        m_seqlens_k = P + "/Sub/Cast/output_0";
        m_total_len = P + "/Gather/Cast/output_0";
    }

    /// GatherBlockQuantized over a [V, k_blocks·blob] uint8 table (+ Slice when hidden is not a multiple of the
    /// block size, since the logical row then has k_blocks·block_size columns).
    std::string gather_quantized(const std::string& data, const QuantTensors& t) {
        const std::string B = "/model/embed_tokens";
        std::vector<std::string> ins = {data, "input_ids", t.scales};
        if (!t.zero_points.empty()) ins.push_back(t.zero_points);
        auto& n = m_g.node("GatherBlockQuantized", B + "/GatherBlockQuantized", ins, {B + "/GatherBlockQuantized/output_0"}, kMs);
        GraphBuilder::attr(n, "bits", int64_t(t.format.bits));
        GraphBuilder::attr(n, "block_size", int64_t(t.format.block_size));
        GraphBuilder::attr(n, "gather_axis", int64_t(0));
        GraphBuilder::attr(n, "quantize_axis", int64_t(1));
        ++m_res.gather_block_quantized;
        std::string out = B + "/GatherBlockQuantized/output_0";
        if (t.regions.k_blocks * t.format.block_size != m_cfg.hidden_size) {
            m_g.node("Slice", B + "/Slice",
                     {out, m_g.const_i64({0}), m_g.const_i64({m_cfg.hidden_size}), m_g.const_i64({-1})},
                     {B + "/Slice/output_0"});
            out = B + "/Slice/output_0";
        }
        return out;
    }

    std::string float_gather(const std::string& table) {
        const std::string B = "/model/embed_tokens";
        m_g.node("Gather", B + "/Gather", {table, "input_ids"}, {B + "/Gather/output_0"});
        return B + "/Gather/output_0";
    }

    std::string embedding() {
        const int64_t V = m_cfg.vocab_size, H = m_cfg.hidden_size;
        const RowSegment embed{TensorNames::embed(), 0, V};
        const QuantFormat fe = format(m_layout.tied_embeddings ? "tied_embedding" : "embed_tokens");
        if (m_shared) {
            if (!fe.is_float()) {
                m_tied_quant = quantized_init("lm_head.MatMul.weight", source({embed}), fe, true);
                const auto& r = m_tied_quant.regions;
                const std::string shape = m_g.const_i64({V, r.k_blocks * r.blob_size});
                m_g.node("Reshape", "/model/embed_tokens/Reshape", {m_tied_quant.packed, shape},
                         {"/model/embed_tokens/Reshape/output_0"});
                return gather_quantized("/model/embed_tokens/Reshape/output_0", m_tied_quant);
            }
            const std::string table = TensorNames::embed();
            m_g.external_initializer(table, store_type(), {V, H}, float_data(source({embed}), false, table));
            m_tied_float = as_fp32(table);
            return float_gather(m_tied_float);
        }
        if (!fe.is_float()) {
            const QuantTensors t = quantized_init("model.embed_tokens.weight", source({embed}), fe, false);
            return gather_quantized(t.packed, t);
        }
        const std::string table = TensorNames::embed();
        m_g.external_initializer(table, store_type(), {V, H}, float_data(source({embed}), false, table));
        return float_gather(as_fp32(table));
    }

    void rope_caches() {
        if (m_data.counting()) {
            const int64_t max_pos = m_cfg.max_position_embeddings, half = m_cfg.head_dim / 2;
            for (const char* n : {"cos_cache", "sin_cache"})
                m_g.external_initializer(n, act_type(), {max_pos, half},
                                         m_data.reserve(n, uint64_t(max_pos * half) * (act_type() == kFloat ? 4 : 2)));
            return;
        }
        const engine::Rope rope(m_cfg);
        std::vector<float> cos, sin;
        const int max_pos = m_cfg.max_position_embeddings;
        rope.caches(max_pos, cos, sin);
        const int64_t half = m_cfg.head_dim / 2;
        if (static_cast<int64_t>(cos.size()) != max_pos * half)
            fail("export", "internal error: rotary cache size " + std::to_string(cos.size()));
        // Computed in fp32, stored in the activation type (the builder casts them to its io dtype).
        const io::DType cache_dtype = act_type() == kFloat ? io::DType::F32 : io::DType::F16;
        for (const auto& [name, v] : {std::pair<const char*, const std::vector<float>*>{"cos_cache", &cos}, {"sin_cache", &sin}}) {
            m_data.begin(v->size() * io::dtype_size(cache_dtype));
            write_as(m_data, v->data(), v->size(), cache_dtype, name);
            m_g.external_initializer(name, act_type(), {max_pos, half}, m_data.end(name));
        }
    }

    void layer(int i, std::string& root, std::string& skip) {
        const auto& c = m_cfg;
        const std::string P = "/model/layers." + std::to_string(i);
        const std::string si = std::to_string(i);
        const int64_t Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;

        // input_layernorm
        std::string x;
        const std::string in_w = vector_init("model.layers." + si + ".input_layernorm.weight", {{TensorNames::input_norm(i), 0, c.hidden_size}});
        if (i == 0) {
            auto& n = m_g.node("SimplifiedLayerNormalization", P + "/input_layernorm/LayerNorm", {root, in_w},
                               {P + "/input_layernorm/output_0"});
            rms_attrs(n);
            x = P + "/input_layernorm/output_0";
        } else {
            std::tie(x, root) = skip_norm(P + "/input_layernorm", root, skip, in_w);
        }

        // attention projections
        const QuantFormat fq = format("layers." + si + ".qkv");
        std::vector<RowSegment> qs, ks, vs;
        if (m_layout.packed_qkv) {
            qs = {{TensorNames::qkv(i), 0, Q}};
            ks = {{TensorNames::qkv(i), Q, KV}};
            vs = {{TensorNames::qkv(i), Q + KV, KV}};
        } else {
            qs = {{TensorNames::q(i), 0, Q}};
            ks = {{TensorNames::k(i), 0, KV}};
            vs = {{TensorNames::v(i), 0, KV}};
        }
        std::vector<VecPart> qb, kb, vb;
        const auto& ws = m_model.weights();
        if (c.attention_bias) {
            const std::string packed_bias = TensorNames::layer(i, "self_attn.qkv_proj.bias");
            if (m_layout.packed_qkv) {
                if (ws.has(packed_bias)) qb = {{packed_bias, 0, Q}}, kb = {{packed_bias, Q, KV}}, vb = {{packed_bias, Q + KV, KV}};
            } else {
                qb = {{TensorNames::q_bias(i), 0, Q}}, kb = {{TensorNames::k_bias(i), 0, KV}}, vb = {{TensorNames::v_bias(i), 0, KV}};
            }
        }
        std::string q, k, v;
        if (m_opt.qkv == QkvMode::Packed) {
            std::vector<RowSegment> all = qs;
            all.insert(all.end(), ks.begin(), ks.end());
            all.insert(all.end(), vs.begin(), vs.end());
            std::string qkv = linear(P + "/attn/qkv_proj", x, all, fq);
            if (!qb.empty()) {
                std::vector<VecPart> b = qb;
                b.insert(b.end(), kb.begin(), kb.end());
                b.insert(b.end(), vb.begin(), vb.end());
                qkv = add_bias(P + "/attn/qkv_proj", qkv, b);
            }
            if (c.qk_norm) {
                const auto parts = split(P + "/attn/qkv_proj", qkv, {Q, KV, KV});
                q = parts[0], k = parts[1], v = parts[2];
            } else {
                q = qkv;
            }
        } else {
            q = linear(P + "/attn/q_proj", x, qs, fq);
            k = linear(P + "/attn/k_proj", x, ks, fq);
            v = linear(P + "/attn/v_proj", x, vs, fq);
            if (!qb.empty()) {
                q = add_bias(P + "/attn/q_proj", q, qb);
                k = add_bias(P + "/attn/k_proj", k, kb);
                v = add_bias(P + "/attn/v_proj", v, vb);
            }
        }
        if (c.qk_norm) {
            q = head_norm(P + "/attn/q_norm", q, TensorNames::q_norm(i), Q);
            k = head_norm(P + "/attn/k_norm", k, TensorNames::k_norm(i), KV);
        }

        // GroupQueryAttention with rotary
        const std::string attn = P + "/attn/GroupQueryAttention/output_0";
        auto& g = m_g.node("GroupQueryAttention", P + "/attn/GroupQueryAttention",
                           {q, k, v, "past_key_values." + si + ".key", "past_key_values." + si + ".value", m_seqlens_k,
                            m_total_len, "cos_cache", "sin_cache"},
                           {attn, "present." + si + ".key", "present." + si + ".value"}, kMs);
        GraphBuilder::attr(g, "num_heads", int64_t(c.num_heads));
        GraphBuilder::attr(g, "kv_num_heads", int64_t(c.num_kv_heads));
        GraphBuilder::attr(g, "scale", static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim))));
        // ORT's GroupQueryAttention (CPU, 1.30) lets a query see local_window_size keys, itself included: the
        // same as transformers' sliding_window, and what ORT GenAI's builder writes (local_window_size =
        // sliding_window). -1: full causal attention.
        GraphBuilder::attr(g, "local_window_size", int64_t(c.window(i) > 0 ? c.window(i) : -1));
        GraphBuilder::attr(g, "softcap", 0.0f);
        GraphBuilder::attr(g, "do_rotary", int64_t(1));
        GraphBuilder::attr(g, "rotary_interleaved", int64_t(0));

        const std::string o = linear(P + "/attn/o_proj", attn, {{TensorNames::o(i), 0, c.hidden_size}},
                                     format("layers." + si + ".o"));

        // post_attention_layernorm
        const std::string post_w = vector_init("model.layers." + si + ".post_attention_layernorm.weight",
                                               {{TensorNames::post_norm(i), 0, c.hidden_size}});
        std::string y;
        std::tie(y, root) = skip_norm(P + "/post_attention_layernorm", root, o, post_w);

        // MLP: SiLU(gate) * up, then down
        const QuantFormat fg = format("layers." + si + ".gate_up");
        std::vector<RowSegment> gs, us;
        if (m_layout.fused_gate_up) {
            gs = {{TensorNames::gate_up(i), 0, I}};
            us = {{TensorNames::gate_up(i), I, I}};
        } else {
            gs = {{TensorNames::gate(i), 0, I}};
            us = {{TensorNames::up(i), 0, I}};
        }
        std::string gate, up;
        if (m_opt.fuse_gate_up) {
            std::vector<RowSegment> all = gs;
            all.insert(all.end(), us.begin(), us.end());
            const std::string gu = linear(P + "/mlp/gate_up_proj", y, all, fg);
            const auto parts = split(P + "/mlp/gate_up_proj", gu, {I, I});
            gate = parts[0], up = parts[1];
        } else {
            gate = linear(P + "/mlp/gate_proj", y, gs, fg);
            up = linear(P + "/mlp/up_proj", y, us, fg);
        }
        m_g.node("Sigmoid", P + "/mlp/act_fn/Sigmoid", {gate}, {P + "/mlp/act_fn/Sigmoid/output_0"});
        m_g.node("Mul", P + "/mlp/act_fn/Mul", {gate, P + "/mlp/act_fn/Sigmoid/output_0"}, {P + "/mlp/act_fn/Mul/output_0"});
        m_g.node("Mul", P + "/mlp/Mul", {P + "/mlp/act_fn/Mul/output_0", up}, {P + "/mlp/Mul/output_0"});
        skip = linear(P + "/mlp/down_proj", P + "/mlp/Mul/output_0", {{TensorNames::down(i), 0, c.hidden_size}},
                      format("layers." + si + ".down"));
    }

    void lm_head(const std::string& x) {
        if (m_shared) {
            if (!m_tied_float.empty()) {
                auto& t = m_g.node("Transpose", "/lm_head/Transpose", {m_tied_float}, {"/lm_head/Transpose/output_0"});
                GraphBuilder::attr(t, "perm", std::vector<int64_t>{1, 0});
                m_g.node("MatMul", "/lm_head/MatMul", {x, "/lm_head/Transpose/output_0"}, {"logits"});
                ++m_res.float_matmuls;
            } else {
                matmul_nbits("/lm_head", x, m_tied_quant, "logits");
            }
            return;
        }
        const int64_t V = m_cfg.vocab_size;
        if (m_layout.tied_embeddings)
            linear("/lm_head", x, {{TensorNames::embed(), 0, V}}, format("tied_embedding"), "logits");
        else
            linear("/lm_head", x, {{TensorNames::lm_head(), 0, V}}, format("lm_head"), "logits");
    }
};

/// Files of the model folder copied into the export when present (tokenizer files for ORT GenAI, chat templates).
constexpr const char* kCopiedFiles[] = {"tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
                                        "added_tokens.json", "tokenizer.model",     "chat_template.jinja",
                                        "chat_template.json", "generation_config.json"};

/// A file an export writes: the only names MixQ ever replaces or removes in an existing output folder.
bool is_export_file(const std::string& name) {
    if (name == "model.onnx" || name == kDataFile || name == "genai_config.json" || name == "mixq_plan.json") return true;
    for (const char* f : kCopiedFiles)
        if (name == f) return true;
    return false;
}

/// Never deletes what MixQ did not write: an existing output folder holding anything else is refused (naming it)
/// unless `overwrite`, and then those entries are kept (AtomicDirectory::commit moves them into the new export).
void check_target(const io::Model& model, const fs::path& out, bool overwrite, const std::string& hint) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(out, ec))) return;
    if (!fs::is_directory(out, ec)) fail(out.string(), "exists and is not a folder");
    if (fs::equivalent(out, model.dir(), ec))
        fail(out.string(), "is the model folder itself; choose another output folder");
    std::vector<std::string> foreign;
    for (const auto& e : fs::directory_iterator(out, ec))
        if (!is_export_file(e.path().filename().string()) || !e.is_regular_file(ec))
            foreign.push_back(e.path().filename().string() + (e.is_directory(ec) ? "/" : ""));
    if (ec) fail(out.string(), "cannot list the existing output folder: " + ec.message());
    if (foreign.empty() || overwrite) return;
    std::sort(foreign.begin(), foreign.end());
    std::string names;
    for (size_t i = 0; i < foreign.size() && i < 3; ++i) names += (i ? ", " : "") + foreign[i];
    if (foreign.size() > 3) names += ", ... (" + std::to_string(foreign.size()) + " in all)";
    fail(out.string(), "exists and holds files MixQ did not write (" + names +
                           "); choose a new or empty folder, or " + hint + " to replace only MixQ's files and keep "
                           "these");
}

/// ORT GenAI loads the tokenizer from the exported folder: tokenizer.json and tokenizer_config.json must be there.
void check_tokenizer_files(const io::Model& model) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        if (!fs::is_regular_file(model.dir() / f))
            fail((model.dir() / f).string(), "is missing; ONNX Runtime GenAI needs it beside the exported model");
}

void copy_small_file(const fs::path& from, const fs::path& to) { write_file_atomic(to, read_file(from)); }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

/// The export writes the weights in the basis the plan was scored in; a request for another basis is refused
/// (the file would not be the model whose sensitivities chose the plan).
void check_rotation_request(const plan::Plan& plan, const ExportOptions& o) {
    if (o.rotation == "auto") return;
    if (o.rotation != "none" && o.rotation != "hadamard")
        fail("--rotation", "expected auto, none or hadamard, got '" + o.rotation + "'");
    const bool rotated = plan.rotation != "none";
    if (rotated != (o.rotation == "hadamard"))
        fail(o.plan_label, "was scored with rotation " + plan.rotation + "; exporting it with --rotation " + o.rotation +
                         " would write a different model than the one scored (score again with --rotation " + o.rotation +
                         ", or export with --rotation auto)");
}

/// mixq_plan.json: the plan, plus how it was exported ("export": the settings that decide how ORT runs it).
std::string plan_with_export_settings(const plan::Plan& plan, const ExportOptions& o, const ExportResult& res) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(plan::plan_to_json(plan));
    j["export"] = {{"target", target_name(o.target)},
                   {"activations", o.target == Target::Cpu ? "float32" : "float16"},
                   {"accuracy_level", o.accuracy_level},
                   {"rotation", plan.rotation},
                   {"qkv", qkv_mode_name(o.qkv)},
                   {"fuse_gate_up", o.fuse_gate_up},
                   {"tied_shared", res.tied_shared}};
    return j.dump(2) + "\n";
}

}  // namespace

std::string hash_model_streaming(const io::Model& model, const JobContext& job) {
    // Model::content_hash reports ("hashing", tensor name) after each chunk; drop that tensor's pages there.
    JobContext hash_job(job.token(), [&](const Progress& p) {
        if (p.stage == "hashing" && model.weights().has(p.item)) model.weights().release(p.item);
        job.check_cancel();
    });
    return model.content_hash(hash_job);
}

ExportSize estimate_export_size(const io::Model& model, const plan::Plan& plan, const ExportOptions& options) {
    ExportResult res;
    Emitter em(model, plan, options, null_job(), fs::path(), res);  // a counting data writer: nothing is read
    em.build();
    ExportSize z;
    z.onnx_bytes = em.graph().serialize().size();
    z.data_bytes = em.data().bytes_written();
    z.other_bytes = make_genai_config(model, "model.onnx", target_name(options.target)).size() +
                    plan_with_export_settings(plan, options, res).size();
    std::error_code ec;
    for (const char* f : kCopiedFiles)
        if (fs::is_regular_file(model.dir() / f, ec)) z.other_bytes += fs::file_size(model.dir() / f, ec);
    z.total_bytes = z.onnx_bytes + z.data_bytes + z.other_bytes;
    return z;
}

ExportResult export_onnx(const io::Model& model, const plan::Plan& plan, const fs::path& out_dir_in,
                         const ExportOptions& options, const JobContext& job) {
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path out_dir = fs::absolute(out_dir_in).lexically_normal();
    check_tokenizer_files(model);
    check_rotation_request(plan, options);
    hash_model_streaming(model, job);
    plan::check_plan_for_model(plan, model, options.plan_label);
    check_target(model, out_dir, options.overwrite, options.overwrite_hint);

    ExportResult res;
    res.out_dir = out_dir;
    fs::path temp;
    try {
        AtomicDirectory dir(out_dir);
        temp = dir.temp_dir();
        Emitter em(model, plan, options, job, temp, res);
        em.build();
        job.report(0.96, "export", "writing model.onnx");
        const std::string proto = em.graph().serialize();
        res.nodes = em.graph().node_count();
        res.initializers = em.graph().initializer_count();
        write_file_atomic(temp / "model.onnx", proto);
        em.data().commit();
        res.onnx_bytes = proto.size();
        res.data_bytes = em.data().bytes_written();
        res.padding_bytes = em.data().padding_bytes();
        res.files = {"model.onnx", kDataFile, "genai_config.json"};
        write_file_atomic(temp / "genai_config.json", make_genai_config(model, "model.onnx", target_name(options.target)));
        for (const char* f : kCopiedFiles) {
            std::error_code ec;
            if (!fs::exists(fs::symlink_status(model.dir() / f, ec))) continue;
            copy_small_file(model.dir() / f, temp / f);
            res.files.push_back(f);
        }
        write_file_atomic(temp / "mixq_plan.json", plan_with_export_settings(plan, options, res));
        res.files.push_back("mixq_plan.json");
        if (options.check) {
            job.report(0.98, "export", "onnx checker");
            const auto c0 = std::chrono::steady_clock::now();
            check_onnx_model(temp / "model.onnx");
            res.check_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
        }
        for (const auto& f : res.files) res.total_bytes += fs::file_size(temp / f);
        job.report(1.0, "export", "done");
        dir.commit([](const std::string& name) { return !is_export_file(name); });
    } catch (const Error& e) {
        // Name the final folder, not the temporary one that no longer exists.
        std::string msg = e.what();
        if (!temp.empty()) replace_all(msg, temp.string(), out_dir.string());
        throw Error(msg);
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.write_mb_per_s = res.seconds > 0 ? double(res.total_bytes) / 1e6 / res.seconds : 0.0;
    return res;
}

}  // namespace mixq::exporter
