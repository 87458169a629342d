// SPDX-License-Identifier: MIT
// Checker schemas for the ONNX Runtime ops of an exported decoder (paraphrasing ORT's contrib_defs: names,
// arities, attributes) and the onnx::checker call on the written model file.
#include "core/export/onnx_check.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <mutex>
#include <string>

#include "core/common/error.h"

namespace mixq::exporter {

namespace {

using onnx::AttributeProto;
using onnx::OpSchema;

constexpr const char* kMsDomain = "com.microsoft";

const std::vector<std::string> kFloatTypes = {"tensor(float)", "tensor(float16)", "tensor(bfloat16)"};

void add(OpSchema s) {
    if (onnx::OpSchemaRegistry::Schema(s.Name(), s.SinceVersion(), s.domain())) return;  // registered elsewhere
    onnx::RegisterSchema(std::move(s));
}

OpSchema simplified_layer_norm() {
    OpSchema s;
    s.SetName("SimplifiedLayerNormalization").SetDomain("").SinceVersion(1).SetLocation(__FILE__, __LINE__);
    s.SetDoc("RMSNorm (ONNX Runtime, default domain): Y = X / sqrt(mean(X^2) + epsilon) * scale.");
    s.Input(0, "X", "input", "T")
        .Input(1, "scale", "scale", "V")
        .Output(0, "Y", "output", "V")
        .Output(1, "mean", "saved mean", "U", OpSchema::Optional)
        .Output(2, "inv_std_var", "saved inverse std", "U", OpSchema::Optional)
        .Attr("axis", "first normalization dimension", AttributeProto::INT, int64_t(-1))
        .Attr("epsilon", "added to the variance", AttributeProto::FLOAT, 1e-5f)
        .Attr("stash_type", "computation type", AttributeProto::INT, int64_t(1))
        .TypeConstraint("T", {"tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)"}, "input")
        .TypeConstraint("U", {"tensor(float)", "tensor(double)"}, "stash")
        .TypeConstraint("V", {"tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)"}, "output");
    return s;
}

OpSchema skip_simplified_layer_norm() {
    OpSchema s;
    s.SetName("SkipSimplifiedLayerNormalization").SetDomain(kMsDomain).SinceVersion(1).SetLocation(__FILE__, __LINE__);
    s.SetDoc("RMSNorm of input + skip (+ bias); output 3 is the sum.");
    s.Input(0, "input", "input", "T")
        .Input(1, "skip", "skip", "T")
        .Input(2, "gamma", "scale", "T")
        .Input(3, "bias", "bias", "T", OpSchema::Optional)
        .Output(0, "output", "normalized sum", "T")
        .Output(1, "mean", "unused", "U", OpSchema::Optional)
        .Output(2, "inv_std_var", "inverse std", "U", OpSchema::Optional)
        .Output(3, "input_skip_bias_sum", "input + skip + bias", "T", OpSchema::Optional)
        .Attr("epsilon", "added to the variance", AttributeProto::FLOAT, false)
        .TypeConstraint("T", kFloatTypes, "float types")
        .TypeConstraint("U", {"tensor(float)"}, "stash");
    return s;
}

OpSchema group_query_attention() {
    OpSchema s;
    s.SetName("GroupQueryAttention").SetDomain(kMsDomain).SinceVersion(1).SetLocation(__FILE__, __LINE__);
    s.SetDoc("Grouped-query attention with optional rotary embedding and past/present KV (BNSH).");
    s.Input(0, "query", "Q, or packed QKV", "T")
        .Input(1, "key", "K", "T", OpSchema::Optional)
        .Input(2, "value", "V", "T", OpSchema::Optional)
        .Input(3, "past_key", "past K [B, Nkv, P, D]", "T_CACHE", OpSchema::Optional)
        .Input(4, "past_value", "past V", "T_CACHE", OpSchema::Optional)
        .Input(5, "seqlens_k", "valid tokens - 1 per row", "M")
        .Input(6, "total_sequence_length", "scalar", "M")
        .Input(7, "cos_cache", "[max_seq, D/2]", "T", OpSchema::Optional)
        .Input(8, "sin_cache", "[max_seq, D/2]", "T", OpSchema::Optional)
        .Input(9, "position_ids", "positions", "tensor(int64)", OpSchema::Optional)
        .Input(10, "attention_bias", "additive bias", "T", OpSchema::Optional)
        .Input(11, "head_sink", "per-head sink", "T", OpSchema::Optional)
        .Output(0, "output", "[B, S, Nh*D]", "T")
        .Output(1, "present_key", "present K", "T_CACHE")
        .Output(2, "present_value", "present V", "T_CACHE")
        .Output(3, "output_qk", "attention scores", "T", OpSchema::Optional)
        .Attr("num_heads", "query heads", AttributeProto::INT, true)
        .Attr("kv_num_heads", "key/value heads", AttributeProto::INT, true)
        .Attr("scale", "softmax scale (default 1/sqrt(D))", AttributeProto::FLOAT, false)
        .Attr("softcap", "logit softcap (0 = off)", AttributeProto::FLOAT, false)
        .Attr("local_window_size", "sliding window (-1 = off)", AttributeProto::INT, false)
        .Attr("do_rotary", "apply rotary embedding to Q and K", AttributeProto::INT, false)
        .Attr("rotary_interleaved", "interleaved rotary layout", AttributeProto::INT, false)
        .Attr("smooth_softmax", "smooth softmax", AttributeProto::INT, false)
        .Attr("qk_output", "emit QK scores", AttributeProto::INT, false)
        .TypeConstraint("T", kFloatTypes, "float types")
        .TypeConstraint("T_CACHE", {"tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(int8)", "tensor(uint8)"},
                        "cache types")
        .TypeConstraint("M", {"tensor(int32)"}, "lengths");
    return s;
}

OpSchema matmul_nbits() {
    OpSchema s;
    s.SetName("MatMulNBits").SetDomain(kMsDomain).SinceVersion(1).SetLocation(__FILE__, __LINE__);
    s.SetDoc("Y = A x dequant(B)^T with B [N, k_blocks, blob] uint8, block-wise scales and zero points along K.");
    s.Input(0, "A", "activations [..., K]", "T1")
        .Input(1, "B", "packed weights [N, k_blocks, blob_size]", "T2")
        .Input(2, "scales", "[N, k_blocks]", "T1")
        .Input(3, "zero_points", "packed zero points", "T3", OpSchema::Optional)
        .Input(4, "g_idx", "group index (deprecated)", "T4", OpSchema::Optional)
        .Input(5, "bias", "[N]", "T1", OpSchema::Optional)
        .Output(0, "Y", "[..., N]", "T1")
        .Attr("K", "input features", AttributeProto::INT, true)
        .Attr("N", "output features", AttributeProto::INT, true)
        .Attr("bits", "2, 4 or 8", AttributeProto::INT, int64_t(4))
        .Attr("block_size", "power of two >= 16", AttributeProto::INT, true)
        .Attr("accuracy_level", "minimum compute precision of A (0 = unset)", AttributeProto::INT, int64_t(0))
        .Attr("weight_prepacked", "prepacked CUDA layout", AttributeProto::INT, false)
        .TypeConstraint("T1", kFloatTypes, "activations and scales")
        .TypeConstraint("T2", {"tensor(uint8)", "tensor(int32)"}, "packed weights")
        .TypeConstraint("T3", {"tensor(uint8)", "tensor(int32)", "tensor(float16)", "tensor(float)", "tensor(bfloat16)"},
                        "zero points")
        .TypeConstraint("T4", {"tensor(int32)"}, "group index");
    return s;
}

OpSchema gather_block_quantized() {
    OpSchema s;
    s.SetName("GatherBlockQuantized").SetDomain(kMsDomain).SinceVersion(1).SetLocation(__FILE__, __LINE__);
    s.SetDoc("Gather on block-quantized data, dequantized: (q - zp) * scale.");
    s.Input(0, "data", "quantized data (uint8: packed along the last axis)", "T1")
        .Input(1, "indices", "indices", "Tind")
        .Input(2, "scales", "same rank as data", "T2")
        .Input(3, "zero_points", "packed like data", "T1", OpSchema::Optional)
        .Output(0, "output", "dequantized rows", "T2")
        .Attr("gather_axis", "gather axis", AttributeProto::INT, int64_t(0))
        .Attr("quantize_axis", "quantization axis", AttributeProto::INT, int64_t(1))
        .Attr("block_size", "quantization block", AttributeProto::INT, int64_t(128))
        .Attr("bits", "2, 4 or 8 for uint8 data", AttributeProto::INT, int64_t(4))
        .TypeConstraint("T1", {"tensor(uint8)"}, "quantized data")
        .TypeConstraint("T2", kFloatTypes, "scales and output")
        .TypeConstraint("Tind", {"tensor(int32)", "tensor(int64)"}, "indices");
    return s;
}

void register_all() {
    auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance();
    if (!ranges.Map().count(kMsDomain)) ranges.AddDomainToVersion(kMsDomain, 1, 1);
    add(simplified_layer_norm());
    add(skip_simplified_layer_norm());
    add(group_query_attention());
    add(matmul_nbits());
    add(gather_block_quantized());
}

/// The checker's message (reason, blank line, "==> Context: ...") on one line.
std::string one_line(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
        out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

}  // namespace

void register_ort_schemas() {
    static std::once_flag once;
    std::call_once(once, register_all);
}

void check_onnx_model(const std::filesystem::path& model_onnx) {
    register_ort_schemas();
    try {
        onnx::checker::check_model(model_onnx.string());
    } catch (const std::exception& e) {
        fail(model_onnx.string(), std::string("ONNX checker: ") + one_line(e.what()));
    }
}

}  // namespace mixq::exporter
