// SPDX-License-Identifier: MIT
// The ONNX runner's operator table: each op is a function over an OpContext (the node, its input tensors, room
// for its outputs). Ops are registered explicitly by area (ops_*.cpp), keyed "domain:op_type" ("" = ai.onnx).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_graph.h"

namespace mixq::eval::onnx {

struct OpContext {
    const Node& node;
    const std::string& graph_label;
    std::vector<const Tensor*> inputs;  ///< nullptr for an omitted optional input
    std::vector<Tensor> outputs;        ///< one slot per node output, filled by the op
    /// Per input: the runner hands its buffer over (the value dies at this node, this node reads it through one
    /// slot only, and no other handle exists), so the op may write into it and return it as an output.
    std::vector<char> donate;
    /// Bit i: the op has checked output i for NaN/Inf itself (or proved it finite), so the runner skips its scan.
    uint32_t finite_checked = 0;

    int num_inputs() const { return static_cast<int>(inputs.size()); }
    /// Input i, which must be present.
    const Tensor& in(int i) const;
    /// Input i or nullptr when omitted / beyond the node's input list.
    const Tensor* opt(int i) const { return i < num_inputs() ? inputs[static_cast<size_t>(i)] : nullptr; }
    /// True when input i's buffer may be overwritten (see `donate`).
    bool donated(int i) const { return i < static_cast<int>(donate.size()) && donate[static_cast<size_t>(i)] != 0; }
    /// True when output i is consumed (named) by the graph.
    bool wants(int i) const {
        return i < static_cast<int>(node.outputs.size()) && !node.outputs[static_cast<size_t>(i)].empty();
    }
    void set(int i, Tensor t) {
        if (i < static_cast<int>(outputs.size())) outputs[static_cast<size_t>(i)] = std::move(t);
    }
    /// Throws "<model>: node '<name>' (<op>): <what>".
    [[noreturn]] void fail(const std::string& what) const { mixq::fail(graph_label, node.label() + ": " + what); }
    /// Requires input i to have dtype t.
    const Tensor& in_typed(int i, DType t, const char* what) const;
};

using OpFn = std::function<void(OpContext&)>;
using OpTable = std::map<std::string, OpFn>;

/// "domain:op_type" with "" for the default domain.
inline std::string op_key(const std::string& domain, const std::string& op) { return domain + ":" + op; }

/// The complete table (built once).
const OpTable& op_table();

// Registration by area (ops_*.cpp).
void register_elementwise_ops(OpTable& t);
void register_shape_ops(OpTable& t);
void register_norm_ops(OpTable& t);
void register_matmul_ops(OpTable& t);
void register_attention_ops(OpTable& t);

// Shared helpers.
/// Numpy-style broadcast of two shapes; false when incompatible.
bool broadcast_shape(const Shape& a, const Shape& b, Shape* out);
/// Normalizes a possibly negative axis against `rank`; fails through ctx when out of range.
int64_t norm_axis(const OpContext& ctx, int64_t axis, int64_t rank);

}  // namespace mixq::eval::onnx
