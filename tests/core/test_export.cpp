// SPDX-License-Identifier: MIT
// ONNX export of the demo model (and small synthetic qwen2/qwen3 models), read back through the onnx protobuf:
// folder contents, IR/opsets, graph I/O, node names and attributes, genai_config.json keys and values, the stored
// weights decoded by hand from the MatMulNBits layout against quant::fake_quantize, packing options, tied-table
// sharing (data file smaller by exactly the table), the checker verifying contrib nodes, and failure paths
// (cancel, unwritable target, a write failing midway, a foreign folder) that must leave no partial folder.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <QtTest>
#include <csignal>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/half.h"
#include "core/export/exporter.h"
#include "core/export/onnx_check.h"
#include "core/io/synthetic_model.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"
#include "core/quant/quantizer.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;
using nlohmann::json;
using quant::QuantFormat;
using mixq_test::error_of;

namespace {

QuantFormat fmt(const std::string& s) { return QuantFormat::parse(s); }

plan::Plan uniform_plan(const io::Model& m, const std::string& f) {
    return plan::make_model_plan(m, [&](const io::QuantUnit&) { return fmt(f); });
}

onnx::ModelProto load_proto(const fs::path& p) {
    onnx::ModelProto m;
    std::ifstream in(p, std::ios::binary);
    if (!m.ParseFromIstream(&in)) throw std::runtime_error("cannot parse " + p.string());
    return m;
}

void save_proto(const onnx::ModelProto& m, const fs::path& p) {
    std::ofstream out(p, std::ios::binary);
    m.SerializeToOstream(&out);
}

const onnx::NodeProto* find_node(const onnx::ModelProto& m, const std::string& name) {
    for (const auto& n : m.graph().node())
        if (n.name() == name) return &n;
    return nullptr;
}

int count_op(const onnx::ModelProto& m, const std::string& op) {
    int c = 0;
    for (const auto& n : m.graph().node()) c += n.op_type() == op;
    return c;
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
    return nullptr;
}
int64_t attr_i(const onnx::NodeProto& n, const std::string& name) {
    const auto* a = find_attr(n, name);
    return a ? a->i() : -999;
}

const onnx::TensorProto* find_init(const onnx::ModelProto& m, const std::string& name) {
    for (const auto& t : m.graph().initializer())
        if (t.name() == name) return &t;
    // 16-bit data reaches the fp32 graph through a Cast of the stored initializer to float32.
    for (const auto& n : m.graph().node())
        if (n.op_type() == "Cast" && n.output_size() == 1 && n.output(0) == name) {
            const auto* t = find_init(m, n.input(0));
            if (t && attr_i(n, "to") != onnx::TensorProto::FLOAT) return nullptr;
            return t;
        }
    return nullptr;
}

std::string ext_value(const onnx::TensorProto& t, const std::string& key) {
    for (const auto& e : t.external_data())
        if (e.key() == key) return e.value();
    return "";
}

/// Raw bytes of an external initializer.
std::vector<uint8_t> init_bytes(const fs::path& dir, const onnx::TensorProto& t) {
    const uint64_t off = std::stoull(ext_value(t, "offset")), len = std::stoull(ext_value(t, "length"));
    std::ifstream in(dir / ext_value(t, "location"), std::ios::binary);
    in.seekg(static_cast<std::streamoff>(off));
    std::vector<uint8_t> b(len);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(len));
    return b;
}

std::vector<int64_t> dims_of(const onnx::TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

std::vector<std::string> dims_of(const onnx::ValueInfoProto& v) {
    std::vector<std::string> d;
    for (const auto& x : v.type().tensor_type().shape().dim())
        d.push_back(x.has_dim_param() ? x.dim_param() : std::to_string(x.dim_value()));
    return d;
}

/// No leftover temporary folders (".NAME.tmp-*") beside `out`.
bool no_temp_left(const fs::path& out) {
    for (const auto& e : fs::directory_iterator(out.parent_path()))
        if (e.path().filename().string().rfind("." + out.filename().string() + ".tmp-", 0) == 0) return false;
    return true;
}

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

}  // namespace

class TestExport : public QObject {
    Q_OBJECT

    std::shared_ptr<io::Model> m_demo;
    fs::path m_int4_dir;
    plan::Plan m_int4_plan;

private slots:
    void initTestCase() {
        m_demo = io::Model::open(mixq_test::demo_model());
        m_int4_plan = uniform_plan(*m_demo, "int4-g32");
        m_int4_dir = mixq_test::scratch("export_int4") / "out";
        exporter::export_onnx(*m_demo, m_int4_plan, m_int4_dir);
    }

    void folderHoldsTheFilesAndCopiesTokenizerFilesVerbatim() {
        for (const char* f : {"model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json",
                              "tokenizer_config.json", "generation_config.json", "mixq_plan.json"})
            QVERIFY2(fs::exists(m_int4_dir / f), f);
        QVERIFY(!fs::exists(m_int4_dir / "special_tokens_map.json"));  // the demo model has none
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
            QCOMPARE(mixq_test::read_text(m_int4_dir / f), mixq_test::read_text(mixq_test::demo_model() / f));
        QVERIFY(no_temp_left(m_int4_dir));
        // mixq_plan.json is the plan that produced the folder.
        const plan::Plan back = plan::load_plan(m_int4_dir / "mixq_plan.json");
        QCOMPARE(back.units.size(), m_int4_plan.units.size());
        for (size_t i = 0; i < back.units.size(); ++i) {
            QCOMPARE(back.units[i].name, m_int4_plan.units[i].name);
            QVERIFY(back.units[i].format == fmt("int4-g32"));
        }
        QCOMPARE(back.model_hash, m_demo->content_hash());
    }

    void modelProtoHasTheGenaiInterface() {
        const auto m = load_proto(m_int4_dir / "model.onnx");
        QCOMPARE(m.ir_version(), int64_t(8));
        std::map<std::string, int64_t> ops;
        for (const auto& o : m.opset_import()) ops[o.domain()] = o.version();
        QCOMPARE(ops, (std::map<std::string, int64_t>{{"", 17}, {"com.microsoft", 1}}));
        // Inputs: ids, mask, 6 layers x key/value; outputs: logits + presents.
        std::map<std::string, const onnx::ValueInfoProto*> in, out;
        for (const auto& v : m.graph().input()) in[v.name()] = &v;
        for (const auto& v : m.graph().output()) out[v.name()] = &v;
        QCOMPARE(in.size(), size_t(2 + 12));
        QCOMPARE(out.size(), size_t(1 + 12));
        QCOMPARE(in["input_ids"]->type().tensor_type().elem_type(), int(onnx::TensorProto::INT64));
        QCOMPARE(dims_of(*in["input_ids"]), (std::vector<std::string>{"batch_size", "sequence_length"}));
        QCOMPARE(in["attention_mask"]->type().tensor_type().elem_type(), int(onnx::TensorProto::INT64));
        QCOMPARE(dims_of(*in["attention_mask"]), (std::vector<std::string>{"batch_size", "total_sequence_length"}));
        for (int i = 0; i < 6; ++i)
            for (const char* kv : {"key", "value"}) {
                const auto* p = in["past_key_values." + std::to_string(i) + "." + kv];
                QVERIFY(p);
                QCOMPARE(p->type().tensor_type().elem_type(), int(onnx::TensorProto::FLOAT));
                QCOMPARE(dims_of(*p), (std::vector<std::string>{"batch_size", "2", "past_sequence_length", "32"}));
                const auto* q = out["present." + std::to_string(i) + "." + kv];
                QVERIFY(q);
                QCOMPARE(dims_of(*q), (std::vector<std::string>{"batch_size", "2", "total_sequence_length", "32"}));
            }
        QCOMPARE(dims_of(*out["logits"]), (std::vector<std::string>{"batch_size", "sequence_length", "1024"}));
        QCOMPARE(out["logits"]->type().tensor_type().elem_type(), int(onnx::TensorProto::FLOAT));
    }

    void nodesFollowTheBuilderNaming() {
        const auto m = load_proto(m_int4_dir / "model.onnx");
        const auto* ln0 = find_node(m, "/model/layers.0/input_layernorm/LayerNorm");
        QVERIFY(ln0);
        QCOMPARE(ln0->op_type(), std::string("SimplifiedLayerNormalization"));
        QCOMPARE(ln0->domain(), std::string(""));
        QCOMPARE(attr_i(*ln0, "stash_type"), int64_t(1));
        QVERIFY(std::fabs(find_attr(*ln0, "epsilon")->f() - 1e-5f) < 1e-12f);
        for (int i = 1; i < 6; ++i) {
            const auto* s = find_node(m, "/model/layers." + std::to_string(i) + "/input_layernorm/SkipLayerNorm");
            QVERIFY(s);
            QCOMPARE(s->op_type(), std::string("SkipSimplifiedLayerNormalization"));
            QCOMPARE(s->domain(), std::string("com.microsoft"));
            QCOMPARE(s->output_size(), 4);
            QCOMPARE(s->output(3), "/model/layers." + std::to_string(i) + "/input_layernorm/output_3");
        }
        const auto* fin = find_node(m, "/model/layers.6/final_norm_layernorm/SkipLayerNorm");
        QVERIFY(fin);
        QCOMPARE(fin->output_size(), 1);
        const auto* gqa = find_node(m, "/model/layers.3/attn/GroupQueryAttention");
        QVERIFY(gqa);
        QCOMPARE(gqa->domain(), std::string("com.microsoft"));
        QCOMPARE(attr_i(*gqa, "num_heads"), int64_t(4));
        QCOMPARE(attr_i(*gqa, "kv_num_heads"), int64_t(2));
        QCOMPARE(attr_i(*gqa, "do_rotary"), int64_t(1));
        QCOMPARE(attr_i(*gqa, "rotary_interleaved"), int64_t(0));
        QCOMPARE(attr_i(*gqa, "local_window_size"), int64_t(-1));
        QCOMPARE(find_attr(*gqa, "scale")->f(), 1.0f / std::sqrt(32.0f));
        QCOMPARE(gqa->input(0), std::string("/model/layers.3/attn/qkv_proj/MatMul/output_0"));
        QCOMPARE(gqa->input(3), std::string("past_key_values.3.key"));
        QCOMPARE(gqa->input(5), std::string("/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0"));
        QCOMPARE(gqa->input(6), std::string("/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0"));
        QCOMPARE(gqa->input(7), std::string("cos_cache"));
        QCOMPARE(gqa->output(1), std::string("present.3.key"));
        // qkv: q 4x32 + k,v 2x32 each = 256 outputs of 128 inputs.
        const auto* qkv = find_node(m, "/model/layers.3/attn/qkv_proj/MatMul_Q4");
        QVERIFY(qkv);
        QCOMPARE(qkv->op_type(), std::string("MatMulNBits"));
        QCOMPARE(attr_i(*qkv, "K"), int64_t(128));
        QCOMPARE(attr_i(*qkv, "N"), int64_t(256));
        QCOMPARE(attr_i(*qkv, "bits"), int64_t(4));
        QCOMPARE(attr_i(*qkv, "block_size"), int64_t(32));
        QCOMPARE(attr_i(*qkv, "accuracy_level"), int64_t(4));  // the genai builder's CPU default (int8 activations)
        QCOMPARE(qkv->input(1), std::string("model.layers.3.attn.qkv_proj.MatMul.weight_Q4G32"));
        QCOMPARE(dims_of(*find_init(m, qkv->input(1))), (std::vector<int64_t>{256, 4, 16}));
        QCOMPARE(dims_of(*find_init(m, qkv->input(2))), (std::vector<int64_t>{256, 4}));
        QCOMPARE(dims_of(*find_init(m, qkv->input(3))), (std::vector<int64_t>{256, 2}));  // 4 blocks, 4-bit zp
        for (const char* n : {"/model/layers.3/attn/o_proj/MatMul_Q4", "/model/layers.3/mlp/gate_proj/MatMul_Q4",
                              "/model/layers.3/mlp/up_proj/MatMul_Q4", "/model/layers.3/mlp/down_proj/MatMul_Q4",
                              "/model/layers.3/mlp/act_fn/Sigmoid", "/model/layers.3/mlp/act_fn/Mul", "/model/layers.3/mlp/Mul",
                              "/model/attn_mask_reformat/attn_mask_subgraph/ReduceSum"})
            QVERIFY2(find_node(m, n), n);
        const auto* head = find_node(m, "/lm_head/MatMul_Q4");
        QVERIFY(head);
        QCOMPARE(head->output(0), std::string("logits"));
        QCOMPARE(attr_i(*head, "N"), int64_t(1024));
        // 6 layers x (qkv, o, gate, up, down) + lm_head.
        QCOMPARE(count_op(m, "MatMulNBits"), 31);
        QCOMPARE(count_op(m, "GroupQueryAttention"), 6);
        // Topological order, every initializer external in model.onnx.data, no overlaps.
        std::set<std::string> known = {""};
        for (const auto& v : m.graph().input()) known.insert(v.name());
        for (const auto& t : m.graph().initializer()) known.insert(t.name());
        for (const auto& n : m.graph().node()) {
            for (const auto& i : n.input()) QVERIFY2(known.count(i), (n.name() + " reads " + i).c_str());
            for (const auto& o : n.output()) known.insert(o);
        }
        const uint64_t data_size = fs::file_size(m_int4_dir / "model.onnx.data");
        std::vector<std::pair<uint64_t, uint64_t>> spans;
        for (const auto& t : m.graph().initializer()) {
            QCOMPARE(t.data_location(), onnx::TensorProto::EXTERNAL);
            QCOMPARE(ext_value(t, "location"), std::string("model.onnx.data"));
            spans.push_back({std::stoull(ext_value(t, "offset")), std::stoull(ext_value(t, "length"))});
        }
        std::sort(spans.begin(), spans.end());
        for (size_t i = 0; i < spans.size(); ++i) {
            QVERIFY(spans[i].first + spans[i].second <= data_size);
            if (i) QVERIFY(spans[i - 1].first + spans[i - 1].second <= spans[i].first);
        }
    }

    void genaiConfigHasExactlyTheBuilderKeys() {
        const json j = json::parse(mixq_test::read_text(m_int4_dir / "genai_config.json"));
        auto keys = [](const json& o) {
            std::set<std::string> s;
            for (auto it = o.begin(); it != o.end(); ++it) s.insert(it.key());
            return s;
        };
        QCOMPARE(keys(j), (std::set<std::string>{"model", "search"}));
        QCOMPARE(keys(j["model"]), (std::set<std::string>{"bos_token_id", "context_length", "decoder", "eos_token_id",
                                                          "pad_token_id", "type", "vocab_size"}));
        QCOMPARE(keys(j["model"]["decoder"]),
                 (std::set<std::string>{"session_options", "filename", "head_size", "hidden_size", "inputs", "outputs",
                                        "num_attention_heads", "num_hidden_layers", "num_key_value_heads"}));
        QCOMPARE(keys(j["model"]["decoder"]["inputs"]),
                 (std::set<std::string>{"input_ids", "attention_mask", "past_key_names", "past_value_names"}));
        QCOMPARE(keys(j["model"]["decoder"]["outputs"]),
                 (std::set<std::string>{"logits", "present_key_names", "present_value_names"}));
        QCOMPARE(keys(j["search"]),
                 (std::set<std::string>{"diversity_penalty", "do_sample", "early_stopping", "length_penalty", "max_length",
                                        "min_length", "no_repeat_ngram_size", "num_beams", "num_return_sequences",
                                        "past_present_share_buffer", "repetition_penalty", "temperature", "top_k", "top_p"}));
        // Values from the demo's config.json / generation_config.json (no pad id: the eos id).
        const json& m = j["model"];
        QCOMPARE(m["bos_token_id"].get<int>(), 1023);
        QCOMPARE(m["eos_token_id"].get<int>(), 1023);
        QCOMPARE(m["pad_token_id"].get<int>(), 1023);
        QCOMPARE(m["context_length"].get<int>(), 512);
        QCOMPARE(m["type"].get<std::string>(), std::string("llama"));
        QCOMPARE(m["vocab_size"].get<int>(), 1024);
        const json& d = m["decoder"];
        QCOMPARE(d["filename"].get<std::string>(), std::string("model.onnx"));
        QCOMPARE(d["head_size"].get<int>(), 32);
        QCOMPARE(d["hidden_size"].get<int>(), 128);
        QCOMPARE(d["num_attention_heads"].get<int>(), 4);
        QCOMPARE(d["num_key_value_heads"].get<int>(), 2);
        QCOMPARE(d["num_hidden_layers"].get<int>(), 6);
        QCOMPARE(d["inputs"]["past_key_names"].get<std::string>(), std::string("past_key_values.%d.key"));
        QCOMPARE(d["outputs"]["present_value_names"].get<std::string>(), std::string("present.%d.value"));
        QCOMPARE(d["session_options"]["log_id"].get<std::string>(), std::string("onnxruntime-genai"));
        QVERIFY(d["session_options"]["provider_options"].is_array() && d["session_options"]["provider_options"].empty());
        QCOMPARE(j["search"]["max_length"].get<int>(), 512);
        QCOMPARE(j["search"]["do_sample"].get<bool>(), false);
        QCOMPARE(j["search"]["past_present_share_buffer"].get<bool>(), true);
        QCOMPARE(j["search"]["num_beams"].get<int>(), 1);
    }

    void storedWeightsDequantizeToTheFakeQuantWeights() {
        // A mixed plan: qkv int8-g64 symmetric, o int4-g128 k-quant, gate_up 16-bit, down int4-g16, lm_head int8.
        auto choose = [](const io::QuantUnit& u) {
            switch (u.kind) {
                case io::UnitKind::QKV: return fmt("int8-g64-sym");
                case io::UnitKind::O: return fmt("int4-g128-kquant");
                case io::UnitKind::GateUp: return QuantFormat::float16();
                case io::UnitKind::Down: return fmt("int4-g16");
                default: return fmt("int8-g32");
            }
        };
        const plan::Plan p = plan::make_model_plan(*m_demo, choose);
        const fs::path dir = mixq_test::scratch("export_weights") / "out";
        const auto r = exporter::export_onnx(*m_demo, p, dir);
        QCOMPARE(r.float_matmuls, 12);  // gate and up of 6 layers
        const auto m = load_proto(dir / "model.onnx");
        const auto& ws = m_demo->weights();
        const io::DType dt = m_demo->weight_dtype();

        // Decodes B / scales / zp of a MatMulNBits node by the layout in the ORT docs and compares each weight
        // with quant::fake_quantize of the file's weights (bitwise).
        auto check_nbits = [&](const std::string& node, const std::vector<std::string>& tensors, const QuantFormat& f) {
            const auto* n = find_node(m, node);
            QVERIFY2(n, node.c_str());
            std::vector<float> w;
            for (const auto& t : tensors) {
                const auto v = ws.read_f32(t);
                w.insert(w.end(), v.begin(), v.end());
            }
            const int64_t K = attr_i(*n, "K"), N = attr_i(*n, "N");
            QCOMPARE(int64_t(w.size()), N * K);
            QCOMPARE(attr_i(*n, "bits"), int64_t(f.bits));
            QCOMPARE(attr_i(*n, "block_size"), int64_t(f.block_size));
            std::vector<float> ref(w.size());
            quant::fake_quantize(w.data(), N, K, f, dt, ref.data());
            const auto B = init_bytes(dir, *find_init(m, n->input(1)));
            const auto* s_init = find_init(m, n->input(2));
            QCOMPARE(s_init->data_type(), int(onnx::TensorProto::BFLOAT16));  // the demo model's dtype: exact scales
            const auto S = init_bytes(dir, *s_init);
            const bool has_zp = n->input_size() > 3;
            QCOMPARE(has_zp, !f.symmetric);
            const std::vector<uint8_t> Z = has_zp ? init_bytes(dir, *find_init(m, n->input(3))) : std::vector<uint8_t>{};
            const int64_t kb = (K + f.block_size - 1) / f.block_size, blob = f.block_size * f.bits / 8;
            const int64_t zrow = (kb * f.bits + 7) / 8;
            QCOMPARE(int64_t(B.size()), N * kb * blob);
            QCOMPARE(int64_t(S.size()), N * kb * 2);
            int mismatches = 0;
            for (int64_t r = 0; r < N; ++r)
                for (int64_t c = 0; c < K; ++c) {
                    const int64_t b = c / f.block_size;
                    const uint8_t byte = B[r * kb * blob + (c * f.bits) / 8];
                    const int code = f.bits == 8 ? byte : ((c % 2) ? byte >> 4 : byte & 15);
                    int zp = 1 << (f.bits - 1);
                    if (has_zp) {
                        const uint8_t zb = Z[r * zrow + (b * f.bits) / 8];
                        zp = f.bits == 8 ? zb : ((b % 2) ? zb >> 4 : zb & 15);
                    }
                    uint16_t sb;
                    std::memcpy(&sb, S.data() + 2 * (r * kb + b), 2);
                    const float s = bf16_to_float(sb);
                    const float deq = static_cast<float>(code - zp) * s;
                    mismatches += deq != ref[r * K + c];
                }
            QCOMPARE(mismatches, 0);
        };
        check_nbits("/model/layers.2/attn/qkv_proj/MatMul_Q8",
                    {io::TensorNames::q(2), io::TensorNames::k(2), io::TensorNames::v(2)}, fmt("int8-g64-sym"));
        check_nbits("/model/layers.4/attn/o_proj/MatMul_Q4", {io::TensorNames::o(4)}, fmt("int4-g128-kquant"));
        check_nbits("/model/layers.0/mlp/down_proj/MatMul_Q4", {io::TensorNames::down(0)}, fmt("int4-g16"));
        check_nbits("/lm_head/MatMul_Q8", {io::TensorNames::embed()}, fmt("int8-g32"));

        // 16-bit units: float MatMul on a Cast to float32 of the [K, N] transpose of the file's BF16 weights, stored
        // as BF16 (16 bits in the file, the stored values exactly).
        const auto* gate = find_node(m, "/model/layers.1/mlp/gate_proj/MatMul");
        QVERIFY(gate);
        QCOMPARE(gate->op_type(), std::string("MatMul"));
        const auto* wt = find_init(m, gate->input(1));
        QCOMPARE(dims_of(*wt), (std::vector<int64_t>{128, 352}));
        QCOMPARE(wt->data_type(), int(onnx::TensorProto::BFLOAT16));
        const auto raw = init_bytes(dir, *wt);
        const auto ref = ws.read_f32(io::TensorNames::gate(1));  // [352, 128]
        int mismatches = 0;
        for (int64_t k = 0; k < 128; ++k)
            for (int64_t n = 0; n < 352; ++n) {
                uint16_t v;
                std::memcpy(&v, raw.data() + 2 * (k * 352 + n), 2);
                mismatches += bf16_to_float(v) != ref[n * 128 + k];
            }
        QCOMPARE(mismatches, 0);
        // The tied int8 table is used by the embedding too: GatherBlockQuantized on a Reshape of lm_head's B.
        const auto* gbq = find_node(m, "/model/embed_tokens/GatherBlockQuantized");
        QVERIFY(gbq);
        QCOMPARE(gbq->input(0), std::string("/model/embed_tokens/Reshape/output_0"));
        QCOMPARE(find_node(m, "/model/embed_tokens/Reshape")->input(0), std::string("lm_head.MatMul.weight_Q8G32"));
        QCOMPARE(gbq->input(2), std::string("lm_head.MatMul.weight_scale_fp32"));  // Cast of the BF16 scales
        QCOMPARE(attr_i(*gbq, "bits"), int64_t(8));
        QCOMPARE(attr_i(*gbq, "block_size"), int64_t(32));
    }

    void packingOptionsChangeTheProjections() {
        const fs::path dir = mixq_test::scratch("export_unpacked") / "out";
        exporter::ExportOptions o;
        o.qkv = exporter::QkvMode::Unpacked;
        o.fuse_gate_up = true;
        const auto r = exporter::export_onnx(*m_demo, m_int4_plan, dir, o);
        QVERIFY(!r.qkv_packed && r.gate_up_fused);
        const auto m = load_proto(dir / "model.onnx");
        // 6 x (q, k, v, o, gate_up, down) + lm_head.
        QCOMPARE(count_op(m, "MatMulNBits"), 37);
        QVERIFY(!find_node(m, "/model/layers.0/attn/qkv_proj/MatMul_Q4"));
        QCOMPARE(attr_i(*find_node(m, "/model/layers.0/attn/q_proj/MatMul_Q4"), "N"), int64_t(128));
        QCOMPARE(attr_i(*find_node(m, "/model/layers.0/attn/k_proj/MatMul_Q4"), "N"), int64_t(64));
        QCOMPARE(attr_i(*find_node(m, "/model/layers.0/attn/v_proj/MatMul_Q4"), "N"), int64_t(64));
        const auto* gqa = find_node(m, "/model/layers.0/attn/GroupQueryAttention");
        QCOMPARE(gqa->input(1), std::string("/model/layers.0/attn/k_proj/MatMul/output_0"));
        QCOMPARE(gqa->input(2), std::string("/model/layers.0/attn/v_proj/MatMul/output_0"));
        const auto* gu = find_node(m, "/model/layers.5/mlp/gate_up_proj/MatMul_Q4");
        QVERIFY(gu);
        QCOMPARE(attr_i(*gu, "N"), int64_t(2 * 352));
        const auto* split = find_node(m, "/model/layers.5/mlp/gate_up_proj/Split");
        QVERIFY(split);
        QCOMPARE(split->input(1), std::string("/model/constants/INT64/[352, 352]"));
        QCOMPARE(find_node(m, "/model/layers.5/mlp/act_fn/Sigmoid")->input(0), split->output(0));
        QCOMPARE(find_node(m, "/model/layers.5/mlp/Mul")->input(1), split->output(1));
        QVERIFY(!find_node(m, "/model/layers.5/mlp/gate_proj/MatMul_Q4"));
        // Same weights, other arrangement: identical data size (q|k|v and gate|up rows are just concatenated).
        QCOMPARE(fs::file_size(dir / "model.onnx.data"), fs::file_size(m_int4_dir / "model.onnx.data"));
    }

    void tiedTableIsStoredOnce_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<qint64>("table_bytes");
        // V = 1024, H = 128, a BF16 model. int4-g32 asymmetric: codes V·H/2, bf16 scales V·4·2, zp V·ceil(4·4/8).
        QTest::newRow("int4-g32") << "int4-g32" << qint64(1024 * 64 + 1024 * 4 * 2 + 1024 * 2);
        // int8-g128 symmetric: codes V·H, one bf16 scale per row, no zero points.
        QTest::newRow("int8-g128-sym") << "int8-g128-sym" << qint64(1024 * 128 + 1024 * 2);
        // 16-bit: a bf16 [V, H] table.
        QTest::newRow("fp16") << "fp16" << qint64(1024 * 128 * 2);
    }
    void tiedTableIsStoredOnce() {
        QFETCH(QString, format);
        QFETCH(qint64, table_bytes);
        const auto choose = [&](const io::QuantUnit& u) {
            return u.kind == io::UnitKind::TiedEmbedding ? fmt(format.toStdString()) : fmt("int4-g32");
        };
        const plan::Plan p = plan::make_model_plan(*m_demo, choose);
        const fs::path base = mixq_test::scratch("export_tied_" + format.toStdString());
        exporter::ExportOptions on, off;
        on.tied = exporter::TiedMode::On;
        off.tied = exporter::TiedMode::Off;
        const auto r_on = exporter::export_onnx(*m_demo, p, base / "on", on);
        const auto r_off = exporter::export_onnx(*m_demo, p, base / "off", off);
        QVERIFY(r_on.tied_shared && !r_off.tied_shared);
        const qint64 saved = qint64(fs::file_size(base / "off" / "model.onnx.data")) -
                             qint64(fs::file_size(base / "on" / "model.onnx.data"));
        QCOMPARE(saved, table_bytes);
        const auto m_on = load_proto(base / "on" / "model.onnx");
        const auto m_off = load_proto(base / "off" / "model.onnx");
        if (format == "fp16") {
            QVERIFY(find_node(m_on, "/lm_head/Transpose"));
            QCOMPARE(find_node(m_on, "/lm_head/Transpose")->input(0), std::string("model.embed_tokens.weight_fp32"));
            QCOMPARE(find_node(m_on, "/model/embed_tokens/Gather")->input(0), std::string("model.embed_tokens.weight_fp32"));
            QCOMPARE(find_node(m_on, "model.embed_tokens.weight/Cast")->input(0), std::string("model.embed_tokens.weight"));
            QVERIFY(find_init(m_off, "lm_head.MatMul.weight"));
            QVERIFY(!find_init(m_on, "lm_head.MatMul.weight"));
        } else {
            QCOMPARE(count_op(m_on, "GatherBlockQuantized"), 1);
            QVERIFY(find_node(m_on, "/model/embed_tokens/Reshape"));
            QVERIFY(!find_node(m_off, "/model/embed_tokens/Reshape"));
            QCOMPARE(find_node(m_off, "/model/embed_tokens/GatherBlockQuantized")->input(0).rfind("model.embed_tokens.weight_Q", 0),
                     size_t(0));
        }
    }

    void tiedOnNeedsATiedModel() {
        const fs::path dir = mixq_test::scratch("export_untied");
        io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
        s.config.tie_word_embeddings = false;
        io::write_synthetic_model(dir / "model", s);
        auto model = io::Model::open(dir / "model");
        const plan::Plan p = uniform_plan(*model, "int4-g32");
        exporter::ExportOptions on;
        on.tied = exporter::TiedMode::On;
        try {
            exporter::export_onnx(*model, p, dir / "out", on);
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY(one_line(e.what()));
            QVERIFY(std::string(e.what()).find("does not tie") != std::string::npos);
        }
        QVERIFY(!fs::exists(dir / "out"));
        // auto: a separate quantized embedding (GatherBlockQuantized on its own 2-D table) and lm_head.
        const auto r = exporter::export_onnx(*model, p, dir / "out");
        QVERIFY(!r.tied_shared);
        const auto m = load_proto(dir / "out" / "model.onnx");
        const auto* gbq = find_node(m, "/model/embed_tokens/GatherBlockQuantized");
        QVERIFY(gbq);
        QCOMPARE(dims_of(*find_init(m, gbq->input(0))), (std::vector<int64_t>{1024, 32}));  // 64 inputs at 4 bits
        QVERIFY(find_node(m, "/lm_head/MatMul_Q4"));
    }

    void qwenFeaturesAppear() {
        const fs::path dir = mixq_test::scratch("export_qwen");
        for (const std::string type : {"qwen2", "qwen3"}) {
            io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
            s.config.model_type = type;
            s.config.attention_bias = type == "qwen2";
            s.config.qk_norm = type == "qwen3";
            io::write_synthetic_model(dir / type, s);
            auto model = io::Model::open(dir / type);
            const auto p = uniform_plan(*model, "int8-g32");
            exporter::export_onnx(*model, p, dir / (type + "-out"));
            const auto m = load_proto(dir / (type + "-out") / "model.onnx");
            const auto* gqa = find_node(m, "/model/layers.1/attn/GroupQueryAttention");
            QVERIFY(gqa);
            if (type == "qwen2") {
                const auto* add = find_node(m, "/model/layers.1/attn/qkv_proj/Add");
                QVERIFY(add);
                QCOMPARE(dims_of(*find_init(m, "model.layers.1.attn.qkv_proj.Add.bias")), (std::vector<int64_t>{128}));
                QCOMPARE(gqa->input(0), add->output(0));
                QVERIFY(!find_node(m, "/model/layers.1/attn/q_norm/SimplifiedLayerNormalization"));
            } else {
                QVERIFY(!find_node(m, "/model/layers.1/attn/qkv_proj/Add"));
                QVERIFY(find_node(m, "/model/layers.1/attn/qkv_proj/Split"));
                const auto* qn = find_node(m, "/model/layers.1/attn/q_norm/SimplifiedLayerNormalization");
                QVERIFY(qn);
                QCOMPARE(qn->input(1), std::string("model.layers.1.attn.q_norm.layernorm.weight_fp32"));
                QVERIFY(find_init(m, "model.layers.1.attn.q_norm.layernorm.weight"));
                QCOMPARE(gqa->input(0), std::string("/model/layers.1/attn/q_norm/Reshape_2/output_0"));
                QCOMPARE(gqa->input(1), std::string("/model/layers.1/attn/k_norm/Reshape_2/output_0"));
                QCOMPARE(gqa->input(2), std::string("/model/layers.1/attn/qkv_proj/Split/output_2"));
                const json g = json::parse(mixq_test::read_text(dir / (type + "-out") / "genai_config.json"));
                QCOMPARE(g["model"]["type"].get<std::string>(), std::string("qwen3"));
            }
        }
    }

    void checkerVerifiesContribNodes() {
        // The exporter's checker run passed; now break single nodes of a copy and expect the checker to say so,
        // which shows that the ORT ops are checked against schemas rather than skipped.
        const fs::path dir = mixq_test::scratch("export_checker");
        fs::copy_file(m_int4_dir / "model.onnx.data", dir / "model.onnx.data");
        const auto good = load_proto(m_int4_dir / "model.onnx");
        save_proto(good, dir / "model.onnx");
        exporter::check_onnx_model(dir / "model.onnx");  // the copy is fine

        struct Case {
            std::string node, attr, expect;
        };
        for (const Case& c : {Case{"/model/layers.2/attn/qkv_proj/MatMul_Q4", "K", "MatMulNBits"},
                              Case{"/model/layers.2/attn/GroupQueryAttention", "num_heads", "GroupQueryAttention"},
                              Case{"/model/embed_tokens/GatherBlockQuantized", "bogus", "GatherBlockQuantized"},
                              Case{"/model/layers.0/input_layernorm/LayerNorm", "bogus", "SimplifiedLayerNormalization"},
                              Case{"/model/layers.2/input_layernorm/SkipLayerNorm", "bogus", "SkipSimplifiedLayerNormalization"}}) {
            onnx::ModelProto bad = good;
            for (auto& n : *bad.mutable_graph()->mutable_node()) {
                if (n.name() != c.node) continue;
                if (c.attr == "bogus") {
                    auto* a = n.add_attribute();
                    a->set_name("bogus");
                    a->set_type(onnx::AttributeProto::INT);
                    a->set_i(1);
                } else {
                    auto* attrs = n.mutable_attribute();
                    for (int i = 0; i < attrs->size(); ++i)
                        if (attrs->Get(i).name() == c.attr) attrs->DeleteSubrange(i, 1);
                }
            }
            save_proto(bad, dir / "model.onnx");
            try {
                exporter::check_onnx_model(dir / "model.onnx");
                QFAIL(("checker accepted a broken " + c.expect).c_str());
            } catch (const Error& e) {
                qInfo("%s", e.what());
                QVERIFY2(one_line(e.what()), e.what());
                QVERIFY2(std::string(e.what()).find(c.expect) != std::string::npos, e.what());
            }
        }
        // A missing external data file is reported too.
        save_proto(good, dir / "model.onnx");
        fs::remove(dir / "model.onnx.data");
        QVERIFY_THROWS_EXCEPTION(Error, exporter::check_onnx_model(dir / "model.onnx"));
    }

    void planForAnotherModelIsRejected() {
        plan::Plan p = m_int4_plan;
        p.model_hash = "0123456789abcdef";
        const fs::path dir = mixq_test::scratch("export_wrong_plan") / "out";
        QVERIFY_THROWS_EXCEPTION(Error, exporter::export_onnx(*m_demo, p, dir));
        QVERIFY(!fs::exists(dir));
    }

    void cancelLeavesNoFolder() {
        const fs::path dir = mixq_test::scratch("export_cancel") / "out";
        CancelToken token;
        int reports = 0;
        JobContext job(token, [&](const Progress& p) {
            if (p.stage == "export" && ++reports == 5) token.cancel();
        });
        QVERIFY_THROWS_EXCEPTION(Cancelled, exporter::export_onnx(*m_demo, m_int4_plan, dir, {}, job));
        QVERIFY(reports >= 5);
        QVERIFY(!fs::exists(dir));
        QVERIFY(no_temp_left(dir));
    }

    void unwritableParentGivesOneLineError() {
        fs::path parent;
        if (::geteuid() == 0) {
            parent = "/sys";  // even root cannot create folders there
        } else {
            parent = mixq_test::scratch("export_readonly") / "ro";
            fs::create_directories(parent);
            fs::permissions(parent, fs::perms::owner_read | fs::perms::owner_exec);
        }
        try {
            exporter::export_onnx(*m_demo, m_int4_plan, parent / "mixq-export-test");
            QFAIL("expected an error");
        } catch (const Error& e) {
            qInfo("%s", e.what());
            QVERIFY2(one_line(e.what()), e.what());
            QVERIFY2(std::string(e.what()).find("mixq-export-test") != std::string::npos, e.what());
        }
        QVERIFY(!fs::exists(parent / "mixq-export-test"));
        if (::geteuid() != 0) fs::permissions(parent, fs::perms::owner_all);
    }

    void writeFailingMidwayKeepsThePreviousFolder() {
        // A real write error from the kernel: a file-size limit below the data file's size (EFBIG, as a full disk
        // gives ENOSPC). The previous export in the folder must survive untouched and no temporary may remain.
        const fs::path dir = mixq_test::scratch("export_efbig") / "out";
        exporter::export_onnx(*m_demo, m_int4_plan, dir);
        const std::string before = mixq_test::read_text(dir / "model.onnx.data");
        const plan::Plan p8 = uniform_plan(*m_demo, "int8-g32");  // a larger file
        struct rlimit old{};
        ::getrlimit(RLIMIT_FSIZE, &old);
        auto prev = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = old;
        lim.rlim_cur = 400 * 1024;
        ::setrlimit(RLIMIT_FSIZE, &lim);
        std::string msg;
        try {
            exporter::export_onnx(*m_demo, p8, dir);
        } catch (const Error& e) {
            msg = e.what();
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, prev);
        qInfo("%s", msg.c_str());
        QVERIFY2(!msg.empty(), "the export should have failed");
        QVERIFY2(one_line(msg), msg.c_str());
        QVERIFY2(msg.find((dir / "model.onnx.data").string()) != std::string::npos, msg.c_str());
        QVERIFY2(msg.find("write failed") != std::string::npos, msg.c_str());
        QCOMPARE(mixq_test::read_text(dir / "model.onnx.data"), before);
        QVERIFY(no_temp_left(dir));
    }

    void sizeEstimateIsTheExportedFolder() {
        // estimate_export_size builds the graph against a counting writer (no weight read) and must give the bytes
        // export_onnx then writes, exactly: tied and untied models, quantized and 16-bit units, option variants.
        const fs::path dir = mixq_test::scratch("export_size");
        io::SyntheticSpec us = io::SyntheticSpec::preset("tiny");
        us.config.tie_word_embeddings = false;
        io::write_synthetic_model(dir / "untied", us);
        auto untied = io::Model::open(dir / "untied");
        const auto mixed16 = [](const io::QuantUnit& u) {
            switch (u.kind) {
                case io::UnitKind::QKV: return fmt("int8-g64-sym");
                case io::UnitKind::GateUp: return QuantFormat::float16();
                case io::UnitKind::Down: return fmt("int4-g16");
                case io::UnitKind::O: return QuantFormat::float16();
                default: return fmt("int4-g32");
            }
        };
        const auto all16 = [](const io::QuantUnit&) { return QuantFormat::float16(); };
        exporter::ExportOptions unpacked, off;
        unpacked.qkv = exporter::QkvMode::Unpacked;
        unpacked.fuse_gate_up = true;
        off.tied = exporter::TiedMode::Off;
        exporter::ExportOptions cuda;
        cuda.target = exporter::Target::Cuda;
        cuda.accuracy_level = 0;
        struct C {
            const char* name;
            std::shared_ptr<io::Model> model;
            std::function<QuantFormat(const io::QuantUnit&)> choose;
            exporter::ExportOptions o;
        };
        const std::vector<C> cases = {{"demo mixed with 16-bit units", m_demo, mixed16, {}},
                                      {"demo mixed, unpacked qkv, fused gate|up", m_demo, mixed16, unpacked},
                                      {"demo all 16-bit, tied table shared", m_demo, all16, {}},
                                      {"demo all 16-bit, tied off", m_demo, all16, off},
                                      {"demo mixed, float16 graph (cuda)", m_demo, mixed16, cuda},
                                      {"untied mixed", untied, mixed16, {}},
                                      {"untied int4-g128", untied, [](const io::QuantUnit&) { return fmt("int4-g128"); }, {}}};
        for (size_t i = 0; i < cases.size(); ++i) {
            const auto& c = cases[i];
            const plan::Plan p = plan::make_model_plan(*c.model, c.choose);
            const auto est = exporter::estimate_export_size(*c.model, p, c.o);
            const auto r = exporter::export_onnx(*c.model, p, dir / ("out" + std::to_string(i)), c.o);
            qInfo("%-42s estimate %llu bytes (graph %llu, data %llu), exported %llu; plan's weight bytes %llu", c.name,
                  (unsigned long long)est.total_bytes, (unsigned long long)est.onnx_bytes,
                  (unsigned long long)est.data_bytes, (unsigned long long)r.total_bytes,
                  (unsigned long long)p.estimated_file_bytes);
            QCOMPARE(est.onnx_bytes, r.onnx_bytes);
            QCOMPARE(est.data_bytes, r.data_bytes);
            QCOMPARE(est.total_bytes, r.total_bytes);
        }
    }

    void refusesWhatOrtCannotRun_data() {
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("kv_heads");
        QTest::addColumn<QString>("message");
        // hidden 64: 8 heads of 8 (llama2.c's 260K model has head_dim 8), 16 heads of 4. (Heads that KV heads do
        // not divide are refused by the loader already.)
        QTest::newRow("head_dim 8") << 8 << 8 << "head_dim 8 is not a multiple of 16";
        QTest::newRow("head_dim 4") << 16 << 4 << "head_dim 4 is not a multiple of 16";
    }
    void refusesWhatOrtCannotRun() {
        QFETCH(int, heads);
        QFETCH(int, kv_heads);
        QFETCH(QString, message);
        const fs::path dir = mixq_test::scratch("export_gqa_refused");
        io::SyntheticSpec s = io::SyntheticSpec::preset("tiny");
        s.config.hidden_size = 64;
        s.config.num_heads = heads;
        s.config.num_kv_heads = kv_heads;
        s.config.head_dim = 64 / heads;
        io::write_synthetic_model(dir / "model", s);
        auto model = io::Model::open(dir / "model");
        const std::string err = error_of([&] { exporter::export_onnx(*model, uniform_plan(*model, "int4-g16"), dir / "out"); });
        QVERIFY2(one_line(err) && err.find((dir / "model" / "config.json").string()) == 0 &&
                     err.find(message.toStdString()) != std::string::npos,
                 err.c_str());
        QVERIFY(!fs::exists(dir / "out"));
    }

    void refusesASourceWithoutTokenizerFiles() {
        for (const char* missing : {"tokenizer.json", "tokenizer_config.json"}) {
            const fs::path dir = mixq_test::scratch("export_no_tokenizer");
            io::write_synthetic_model(dir / "model", io::SyntheticSpec::preset("tiny"));
            fs::remove(dir / "model" / missing);
            auto model = io::Model::open(dir / "model");
            const std::string err = error_of([&] { exporter::export_onnx(*model, uniform_plan(*model, "int4-g32"), dir / "out"); });
            QCOMPARE(QString::fromStdString(err),
                     QString::fromStdString((dir / "model" / missing).string() +
                                            ": is missing; ONNX Runtime GenAI needs it beside the exported model"));
            QVERIFY(!fs::exists(dir / "out"));
        }
    }

    void refusesToReplaceAForeignFolder() {
        const fs::path dir = mixq_test::scratch("export_foreign") / "mine";
        fs::create_directories(dir);
        write_file_atomic(dir / "notes.txt", "keep me");
        try {
            exporter::export_onnx(*m_demo, m_int4_plan, dir);
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY(one_line(e.what()));
            QVERIFY2(std::string(e.what()).find("MixQ did not write (notes.txt)") != std::string::npos, e.what());
        }
        QCOMPARE(mixq_test::read_text(dir / "notes.txt"), std::string("keep me"));
        // With overwrite the export is written and the user's file kept.
        exporter::ExportOptions o;
        o.overwrite = true;
        exporter::export_onnx(*m_demo, m_int4_plan, dir, o);
        QCOMPARE(mixq_test::read_text(dir / "notes.txt"), std::string("keep me"));
        QVERIFY(fs::exists(dir / "model.onnx"));
    }
};

QTEST_APPLESS_MAIN(TestExport)
#include "test_export.moc"
