// SPDX-License-Identifier: MIT
// Seed generator for fuzz_onnx_model: writes small ONNX models (ModelBuilder, all initializers inline) into the
// folder given as argv[1] and checks the valid ones with the evaluator's own reader (OnnxModel + one feed()).
// Usage: make_onnx_seeds tests/fuzz/corpus/onnx_model   (built with -DMIXQ_FUZZ=ON, target make_onnx_seeds)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_builder.h"
#include "core/eval/onnx/onnx_model.h"

namespace fs = std::filesystem;
using mixq::eval::onnx::ModelBuilder;
namespace ot = mixq::eval::onnx::onnx_type;

namespace {

/// The decoder the fuzz target's genai_config.json describes: vocab 8, 1 layer, 1 KV head, head size 2.
void decoder(ModelBuilder& b) {
    b.input("input_ids", ot::kInt64, {1, -1}, {"batch", "seq"});
    b.input("attention_mask", ot::kInt64, {1, -1}, {"batch", "total"});
    b.input("past_key_values.0.key", ot::kFloat, {1, 1, -1, 2}, {"batch", "heads", "past", "hd"});
    b.input("past_key_values.0.value", ot::kFloat, {1, 1, -1, 2}, {"batch", "heads", "past", "hd"});
    b.output("logits", ot::kFloat, {1, -1, 8}, {"batch", "seq", "vocab"});
    b.output("present.0.key", ot::kFloat, {1, 1, -1, 2}, {"batch", "heads", "total", "hd"});
    b.output("present.0.value", ot::kFloat, {1, 1, -1, 2}, {"batch", "heads", "total", "hd"});
    std::vector<float> emb(64), kv(16);
    for (size_t i = 0; i < emb.size(); ++i) emb[i] = 0.125f * static_cast<float>(i % 9) - 0.5f;
    for (size_t i = 0; i < kv.size(); ++i) kv[i] = 0.25f * static_cast<float>(i);
    b.init_f32("emb", {8, 8}, emb, false);
    b.init_f32("kv_emb", {8, 2}, kv, false);
    b.init_i64("axis1", {1}, {1}, false);
    b.node("Gather", {"emb", "input_ids"}, {"logits"}).i("axis", 0);
    b.node("Gather", {"kv_emb", "input_ids"}, {"kv_rows"}).i("axis", 0);
    b.node("Unsqueeze", {"kv_rows", "axis1"}, {"kv_new"});
    b.node("Concat", {"past_key_values.0.key", "kv_new"}, {"present.0.key"}).i("axis", 2);
    b.node("Concat", {"past_key_values.0.value", "kv_new"}, {"present.0.value"}).i("axis", 2);
}

/// Nodes with only constant inputs: the loader folds (executes) them.
void folded_chain(ModelBuilder& b) {
    const std::vector<float> c{1, 2, 3, 4, 5, 6};
    b.node("Constant", {}, {"c0"}).t("value", ot::kFloat, {2, 3}, c.data(), c.size() * sizeof(float));
    b.init_i64("shape32", {2}, {3, 2}, false);
    b.node("Reshape", {"c0", "shape32"}, {"c1"});
    b.node("Transpose", {"c1"}, {"c2"}).ints("perm", {1, 0});
    b.init_f32("w33", {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, false);
    b.node("MatMul", {"c2", "w33"}, {"c3"});
    b.node("Add", {"c3", "c0"}, {"c4"});
    b.node("Mul", {"c4", "c4"}, {"c5"});
    b.node("Sqrt", {"c5"}, {"c6"});
    b.node("Shape", {"c6"}, {"c7"});
    b.node("Cast", {"c7"}, {"c8"}).i("to", ot::kFloat);
    b.init_i64("starts", {1}, {0}, false);
    b.init_i64("ends", {1}, {1}, false);
    b.init_i64("axes0", {1}, {0}, false);
    b.node("Slice", {"c6", "starts", "ends", "axes0"}, {"c9"});
    b.node("ReduceSum", {"c6", "axes0"}, {"c10"}).i("keepdims", 1);
    b.init_i64("shape23", {2}, {2, 3}, false);
    b.node("Expand", {"c10", "shape23"}, {"c11"});
    b.node("Split", {"c6"}, {"c12", "c13"}).i("axis", 0);
    b.node("Squeeze", {"c12", "axes0"}, {"c14"});
    b.node("SimplifiedLayerNormalization", {"c6", "c14"}, {"c15"}).i("axis", -1).f("epsilon", 1e-6f);
}

/// A 4-bit MatMulNBits (N=2, K=16, block 16) with constant A: folded at load.
void nbits_folded(ModelBuilder& b) {
    std::vector<float> a(16);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) / 16.0f;
    b.init_f32("nb_a", {1, 16}, a, false);
    std::vector<uint8_t> codes(2 * 1 * 8);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 37);
    b.init_u8("nb_b", {2, 1, 8}, codes, false);
    b.init_f32("nb_s", {2}, {0.5f, 0.25f}, false);
    b.node("MatMulNBits", {"nb_a", "nb_b", "nb_s"}, {"nb_y"}, "com.microsoft")
        .i("K", 16).i("N", 2).i("bits", 4).i("block_size", 16);
    std::vector<uint8_t> table(8 * 8);
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<uint8_t>(i * 11);
    b.init_u8("gq_data", {8, 8}, table, false);
    b.init_i64("gq_idx", {1, 2}, {3, 5}, false);
    std::vector<float> gs(8, 0.1f);
    b.init_f32("gq_s", {8, 1}, gs, false);
    b.node("GatherBlockQuantized", {"gq_data", "gq_idx", "gq_s"}, {"gq_y"}, "com.microsoft")
        .i("bits", 4).i("block_size", 16).i("gather_axis", 0).i("quantize_axis", 1);
}

/// Attention-shaped nodes on the decoder's inputs: parsed and checked at load (not folded); feed() would run them
/// and reject the GroupQueryAttention without its seqlens_k / total_sequence_length inputs, so only the load is
/// checked.
void attention_nodes(ModelBuilder& b) {
    std::vector<float> e4(32, 0.5f);
    b.init_f32("emb4", {8, 4}, e4, false);
    b.node("Gather", {"emb4", "input_ids"}, {"hidden"}).i("axis", 0);
    b.init_f32("ln_w", {4}, {1, 1, 1, 1}, false);
    b.node("SkipSimplifiedLayerNormalization", {"hidden", "hidden", "ln_w"}, {"ln_y"}, "com.microsoft").f("epsilon", 1e-5f);
    b.node("GroupQueryAttention", {"ln_y", "ln_y", "ln_y", "past_key_values.0.key", "past_key_values.0.value"},
           {"attn_y", "attn_k", "attn_v"}, "com.microsoft")
        .i("num_heads", 2).i("kv_num_heads", 1).f("scale", 0.5f).i("do_rotary", 0);
}

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    std::printf("%-28s %6zu bytes\n", name.c_str(), bytes.size());
}

/// Loads `bytes` as the fuzz target does and (when `feed`) feeds two tokens; returns the error or "ok".
std::string check(const std::string& bytes, bool feed) {
    const fs::path d = fs::temp_directory_path() / "mixq-onnx-seed-check";
    fs::create_directories(d);
    std::ofstream(d / "genai_config.json")
        << R"({"model": {"vocab_size": 8, "context_length": 16, "eos_token_id": 2,
  "decoder": {"filename": "model.onnx", "num_hidden_layers": 1, "num_key_value_heads": 1, "head_size": 2}}})";
    std::ofstream(d / "model.onnx", std::ios::binary | std::ios::trunc) << bytes;
    try {
        mixq::eval::onnx::OnnxModel m(d);
        if (!feed) return "ok (loads; folded " + std::to_string(m.runner().folded_nodes()) + ")";
        auto s = m.start(4);
        const auto lg = s->feed({1, 2});
        if (lg.rows() != 2 || lg.cols() != 8) return "feed() gave wrong logits shape";
        return "ok (folded " + std::to_string(m.runner().folded_nodes()) + ")";
    } catch (const mixq::Error& e) {
        return e.what();
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_onnx_seeds OUT_DIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    fs::create_directories(out);
    int bad = 0;
    auto valid = [&](const std::string& name, const std::string& bytes, bool feed = true) {
        write(out, name, bytes);
        const std::string r = check(bytes, feed);
        std::printf("  -> %s\n", r.c_str());
        if (r.rfind("ok", 0) != 0) ++bad;
    };
    {
        ModelBuilder b;
        decoder(b);
        valid("decoder.onnx", b.serialize_inline());
        const std::string bytes = b.serialize_inline();
        write(out, "truncated.onnx", bytes.substr(0, bytes.size() / 2));  // invalid: protobuf parse fails
    }
    {
        ModelBuilder b;
        decoder(b);
        folded_chain(b);
        valid("folded_ops.onnx", b.serialize_inline());
    }
    {
        ModelBuilder b;
        decoder(b);
        nbits_folded(b);
        valid("nbits_folded.onnx", b.serialize_inline());
    }
    {
        ModelBuilder b;
        decoder(b);
        attention_nodes(b);
        valid("attention_nodes.onnx", b.serialize_inline(), false);
    }
    {  // invalid: an operator the runner does not have
        ModelBuilder b;
        decoder(b);
        b.node("Conv", {"emb", "emb"}, {"conv_y"});
        write(out, "unsupported_op.onnx", b.serialize_inline());
    }
    {  // invalid: a cycle
        ModelBuilder b;
        decoder(b);
        b.node("Add", {"cyc_b", "emb"}, {"cyc_a"});
        b.node("Add", {"cyc_a", "emb"}, {"cyc_b"});
        write(out, "cycle.onnx", b.serialize_inline());
    }
    {  // regression (fuzz smoke 2026-12-04): a folded Reshape whose shape product overflows int64 (UBSan)
        ModelBuilder b;
        decoder(b);
        const std::vector<float> c{1, 2, 3, 4, 5, 6};
        b.node("Constant", {}, {"r0"}).t("value", ot::kFloat, {2, 3}, c.data(), c.size() * sizeof(float));
        b.init_i64("r_shape", {2}, {(int64_t(1) << 57) + 3, int64_t(1) << 25}, false);
        b.node("Reshape", {"r0", "r_shape"}, {"r1"});
        write(out, "regression_reshape_overflow.onnx", b.serialize_inline());
    }
    {  // invalid: an external initializer whose data file is missing
        ModelBuilder b;
        decoder(b);
        b.init_f32("ext_w", {2, 2}, {1, 2, 3, 4}, true);
        const fs::path d = fs::temp_directory_path() / "mixq-onnx-seed-ext";
        fs::create_directories(d);
        b.save(d / "model.onnx", "weights.data");
        std::ifstream in(d / "model.onnx", std::ios::binary);
        write(out, "external_missing.onnx", std::string(std::istreambuf_iterator<char>(in), {}));
        fs::remove_all(d);
    }
    return bad == 0 ? 0 : 1;
}
