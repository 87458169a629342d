// SPDX-License-Identifier: MIT
// OnnxRunner: executes an ONNX graph on the CPU with the ops in onnx_ops.h. Loading checks every node's operator
// (an unsupported one is a one-line error naming the node), sorts the nodes topologically and folds constant
// nodes (all inputs initializers: computed once, kept as initializers); run() binds the
// inputs (checked against the declared types and ranks), executes, frees each value after its last use and
// returns the requested outputs.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/eval/onnx/onnx_graph.h"

namespace mixq::eval::onnx {

class OnnxRunner {
public:
    /// Loads model.onnx (+ its external data). Throws mixq::Error "<file>: <problem>".
    static std::unique_ptr<OnnxRunner> load(const std::filesystem::path& model_path);
    /// From serialized ModelProto bytes (tests); external data is resolved in base_dir.
    static std::unique_ptr<OnnxRunner> from_bytes(const std::string& bytes, const std::filesystem::path& base_dir,
                                                  const std::string& label = "model.onnx");

    const Graph& graph() const { return m_graph; }
    const ValueInfo* input_info(const std::string& name) const;
    bool has_input(const std::string& name) const { return input_info(name) != nullptr; }
    bool has_output(const std::string& name) const;

    /// Nodes computed once at load (all inputs constant); their outputs are held as initializers.
    int folded_nodes() const { return m_folded; }

    /// When on, a float output of any node holding a NaN or an Inf stops run() with mixq::Error "<file>:
    /// non-finite values in the output of node '...' (Op)": an overflow inside the graph can vanish before the
    /// logits (e.g. int8 activation blocks turn Inf into 0), so it is caught where it arose. Off by default (op tests
    /// feed Inf on purpose); OnnxModel turns it on.
    void set_check_finite(bool on) { m_check_finite = on; }

    /// Runs the graph. `outputs` empty: all graph outputs. Inputs absent from the graph are an error. `cancel`
    /// (optional) is checked before each node, so a long batched forward stops within one node's time.
    std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs,
                                      const std::vector<std::string>& outputs = {},
                                      const CancelToken* cancel = nullptr) const;

private:
    explicit OnnxRunner(Graph g);
    /// Runs one node on the values `value` finds (nullptr: missing); errors name the node.
    std::vector<Tensor> execute(const Node& nd, const std::function<const Tensor*(const std::string&)>& value) const;
    Graph m_graph;
    int m_folded = 0;
    bool m_check_finite = false;
    std::vector<size_t> m_order;  ///< topological order of m_graph.nodes
    std::vector<std::vector<std::string>> m_free_after;  ///< per position in m_order: values last used there
};

}  // namespace mixq::eval::onnx
