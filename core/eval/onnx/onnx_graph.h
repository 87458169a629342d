// SPDX-License-Identifier: MIT
// Graph: an ONNX model read through the onnx-ml protobuf into plain structs (nodes with parsed attributes,
// initializers as runner tensors, declared inputs/outputs), with external data memory-mapped from the file the
// initializers name (model.onnx.data). Memory: external initializers are zero-copy views of the mapping (pages
// are read on first use), except fp16/bf16/fp64 tensors (widened to fp32) and misaligned ones (copied); inline
// ones are copied. No protobuf types leak out of this header.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/eval/onnx/onnx_tensor.h"

namespace mixq::eval::onnx {

struct Attribute {
    enum class Kind { Int, Float, String, Ints, Floats, Tensor, Other };
    Kind kind = Kind::Other;
    int64_t i = 0;
    float f = 0.0f;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<float> floats;
    onnx::Tensor t;
};

struct Node {
    std::string name, op_type, domain;  ///< domain "" for ai.onnx
    std::vector<std::string> inputs;    ///< "" marks an omitted optional input
    std::vector<std::string> outputs;
    /// std::less<>: looked up by string_view, so an op reading "num_heads" per run builds no std::string.
    std::map<std::string, Attribute, std::less<>> attrs;
    /// State an op keeps across runs for this node (MatMulNBits: its prepacked weight, nbits_prepack.h); freed with
    /// the graph. Ops guard it themselves (runs of one runner may overlap).
    mutable std::shared_ptr<const void> op_cache;

    /// "node '/model/layers.0/attn/GroupQueryAttention' (com.microsoft:GroupQueryAttention)"
    std::string label() const;
    bool has(std::string_view a) const { return attrs.find(a) != attrs.end(); }
    int64_t attr_int(std::string_view a, int64_t dflt) const;
    float attr_float(std::string_view a, float dflt) const;
    std::vector<int64_t> attr_ints(std::string_view a) const;  ///< empty when absent
};

/// A declared graph input or output: element type (ONNX number) and dims (-1 = symbolic / unknown).
struct ValueInfo {
    std::string name;
    int elem_type = 0;
    bool has_shape = false;
    std::vector<int64_t> dims;
    std::vector<std::string> dim_names;  ///< symbolic names ("" for fixed dims)
};

struct Graph {
    std::string label;  ///< the model file, for messages
    std::vector<Node> nodes;
    std::map<std::string, Tensor> initializers;
    std::vector<ValueInfo> inputs;   ///< real inputs (initializers excluded)
    std::vector<ValueInfo> outputs;
    std::map<std::string, int64_t> opsets;  ///< domain ("" = ai.onnx) -> version
    uint64_t initializer_bytes = 0;         ///< as held by the runner (4-bit packed, fp16 widened to fp32)
    uint64_t external_bytes = 0;            ///< bytes read from external data files
};

/// Reads model.onnx; external data files are resolved next to it (and must stay inside its folder).
/// Errors: "<file>: <problem>".
Graph load_graph(const std::filesystem::path& model_path);
/// Same from serialized ModelProto bytes; `base_dir` resolves external data.
Graph load_graph_from_bytes(const std::string& bytes, const std::filesystem::path& base_dir, const std::string& label);

}  // namespace mixq::eval::onnx
