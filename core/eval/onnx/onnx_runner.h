// SPDX-License-Identifier: MIT
// OnnxRunner: executes an ONNX graph on the CPU with the ops in onnx_ops.h. Loading checks every node's operator
// (an unsupported one is a one-line error naming the node), sorts the nodes topologically and folds constant
// nodes (all inputs initializers: computed once, kept as initializers); run() binds the
// inputs (checked against the declared types and ranks), executes, frees each value after its last use and
// returns the requested outputs. Load also resolves every node's operator and its inputs and outputs to value slots,
// so run() does no name lookups per node (a decode step runs ~200 small nodes).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/eval/onnx/onnx_graph.h"
#include "core/eval/onnx/onnx_ops.h"

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
    /// As above, taking the inputs over: an input whose buffer the caller no longer holds may be written by the
    /// node that uses it last (GroupQueryAttention appends the new keys to a donated past KV buffer with room).
    std::map<std::string, Tensor> run(std::map<std::string, Tensor>&& inputs,
                                      const std::vector<std::string>& outputs = {},
                                      const CancelToken* cancel = nullptr) const;

private:
    explicit OnnxRunner(Graph g);
    /// One node as run() executes it: the resolved operator and value slots (-1: omitted).
    struct Step {
        const Node* node = nullptr;
        const OpFn* fn = nullptr;
        std::vector<int> in, out;
        std::vector<int> free_after;  ///< slots last used here
        std::vector<char> may_donate;  ///< per input: dies here and read through this slot only
    };
    /// Runs one node on `inputs` (nullptr: omitted); errors name the node.
    std::vector<Tensor> execute(const Node& nd, const OpFn& fn, std::vector<const Tensor*> inputs,
                                std::vector<char> donate = {}) const;
    std::map<std::string, Tensor> run_impl(std::map<std::string, Tensor>& inputs, bool owned,
                                           const std::vector<std::string>& outputs, const CancelToken* cancel) const;
    Graph m_graph;
    int m_folded = 0;
    bool m_check_finite = false;
    std::vector<Step> m_steps;                  ///< the non-constant nodes in topological order
    std::map<std::string, int> m_slot;          ///< value name -> slot (graph inputs, node outputs, initializers)
    std::vector<const Tensor*> m_init_of_slot;  ///< the initializer of a slot, nullptr for computed values
};

}  // namespace mixq::eval::onnx
