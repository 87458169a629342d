// SPDX-License-Identifier: MIT
// OnnxRunner: load-time checks (operators, dangling inputs, cycles), topological order, execution with
// last-use freeing of intermediate values.
#include "core/eval/onnx/onnx_runner.h"

#include <deque>
#include <set>
#include <unordered_map>

#include "core/common/error.h"
#include "core/engine/finite_check.h"
#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {

std::unique_ptr<OnnxRunner> OnnxRunner::load(const std::filesystem::path& model_path) {
    return std::unique_ptr<OnnxRunner>(new OnnxRunner(load_graph(model_path)));
}

std::unique_ptr<OnnxRunner> OnnxRunner::from_bytes(const std::string& bytes, const std::filesystem::path& base_dir,
                                                   const std::string& label) {
    return std::unique_ptr<OnnxRunner>(new OnnxRunner(load_graph_from_bytes(bytes, base_dir, label)));
}

OnnxRunner::OnnxRunner(Graph g) : m_graph(std::move(g)) {
    const auto& label = m_graph.label;
    const auto& table = op_table();
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < m_graph.nodes.size(); ++i) {
        const Node& n = m_graph.nodes[i];
        if (!table.count(op_key(n.domain, n.op_type))) fail(label, n.label() + ": unsupported operator");
        for (const auto& o : n.outputs) {
            if (o.empty()) continue;
            if (producer.count(o) || m_graph.initializers.count(o))
                fail(label, n.label() + ": output '" + o + "' is produced twice");
            producer[o] = i;
        }
    }
    std::set<std::string> graph_inputs;
    for (const auto& in : m_graph.inputs) graph_inputs.insert(in.name);
    // Kahn's algorithm over node dependencies.
    const size_t n = m_graph.nodes.size();
    std::vector<int> pending(n, 0);
    std::vector<std::vector<size_t>> users(n);
    for (size_t i = 0; i < n; ++i) {
        const Node& nd = m_graph.nodes[i];
        std::set<size_t> deps;
        for (const auto& in : nd.inputs) {
            if (in.empty() || m_graph.initializers.count(in) || graph_inputs.count(in)) continue;
            auto it = producer.find(in);
            if (it == producer.end())
                fail(label, nd.label() + ": input '" + in + "' is not a graph input, an initializer or any node's output");
            deps.insert(it->second);
        }
        pending[i] = static_cast<int>(deps.size());
        for (auto d : deps) users[d].push_back(i);
    }
    std::deque<size_t> ready;
    for (size_t i = 0; i < n; ++i)
        if (pending[i] == 0) ready.push_back(i);
    while (!ready.empty()) {
        const size_t i = ready.front();
        ready.pop_front();
        m_order.push_back(i);
        for (auto u : users[i])
            if (--pending[u] == 0) ready.push_back(u);
    }
    if (m_order.size() != n) fail(label, "the graph has a cycle");
    // Constant folding: a node whose inputs are all initializers (Constant nodes, a Transpose or Reshape of a
    // weight) runs once here and its outputs become initializers, as ONNX Runtime folds them at session start.
    std::vector<size_t> remaining;
    for (size_t idx : m_order) {
        const Node& nd = m_graph.nodes[idx];
        bool constant = true;
        for (const auto& in : nd.inputs) constant = constant && (in.empty() || m_graph.initializers.count(in));
        if (!constant) {
            remaining.push_back(idx);
            continue;
        }
        auto outs = execute(nd, [&](const std::string& in) { return &m_graph.initializers.at(in); });
        for (size_t i = 0; i < nd.outputs.size(); ++i)
            if (!nd.outputs[i].empty()) m_graph.initializers[nd.outputs[i]] = std::move(outs[i]);
        ++m_folded;
    }
    m_order = std::move(remaining);
    // Values whose last consumer is the node at each position: freed right after it runs.
    std::unordered_map<std::string, size_t> last_use;
    for (size_t pos = 0; pos < m_order.size(); ++pos)
        for (const auto& in : m_graph.nodes[m_order[pos]].inputs)
            if (!in.empty() && !m_graph.initializers.count(in)) last_use[in] = pos;
    m_free_after.resize(m_order.size());
    for (const auto& [name, pos] : last_use) m_free_after[pos].push_back(name);
    for (const auto& out : m_graph.outputs)
        if (!producer.count(out.name) && !m_graph.initializers.count(out.name) && !graph_inputs.count(out.name))
            fail(label, "graph output '" + out.name + "' is produced by no node");
}

const ValueInfo* OnnxRunner::input_info(const std::string& name) const {
    for (const auto& in : m_graph.inputs)
        if (in.name == name) return &in;
    return nullptr;
}

bool OnnxRunner::has_output(const std::string& name) const {
    for (const auto& o : m_graph.outputs)
        if (o.name == name) return true;
    return false;
}

std::vector<Tensor> OnnxRunner::execute(const Node& nd,
                                        const std::function<const Tensor*(const std::string&)>& value) const {
    const auto& label = m_graph.label;
    OpContext ctx{nd, label, {}, {}};
    ctx.inputs.reserve(nd.inputs.size());
    for (const auto& in : nd.inputs) {
        if (in.empty()) {
            ctx.inputs.push_back(nullptr);
            continue;
        }
        const Tensor* t = value(in);
        if (!t) fail(label, nd.label() + ": input '" + in + "' has no value");
        ctx.inputs.push_back(t);
    }
    ctx.outputs.resize(nd.outputs.size());
    try {
        op_table().at(op_key(nd.domain, nd.op_type))(ctx);
    } catch (const Error& e) {
        // Tensor helpers (alloc, shape_numel, reshaped) know no file: name the model and the node instead.
        const std::string msg = e.what(), generic = "onnx runner: ";
        if (msg.rfind(generic, 0) == 0) fail(label, nd.label() + ": " + msg.substr(generic.size()));
        throw;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        fail(label, nd.label() + ": " + e.what());
    }
    for (size_t i = 0; i < nd.outputs.size(); ++i)
        if (!nd.outputs[i].empty() && !ctx.outputs[i].defined())
            fail(label, nd.label() + ": output " + std::to_string(i) + " was not produced");
    if (m_check_finite)
        for (const auto& t : ctx.outputs)
            if (t.defined() && t.dtype() == DType::Float && !engine::all_finite(t.data<float>(), t.numel()))
                engine::fail_nonfinite(label, "values in the output of " + nd.label());
    return std::move(ctx.outputs);
}

std::map<std::string, Tensor> OnnxRunner::run(const std::map<std::string, Tensor>& inputs,
                                              const std::vector<std::string>& outputs,
                                              const CancelToken* cancel) const {
    const auto& label = m_graph.label;
    std::unordered_map<std::string, Tensor> env;
    for (const auto& [name, t] : inputs) {
        const ValueInfo* vi = input_info(name);
        if (!vi) fail(label, "'" + name + "' is not an input of the graph");
        DType want;
        if (vi->elem_type && (!dtype_from_onnx(vi->elem_type, &want) || want != t.dtype()))
            fail(label, "input '" + name + "' must have ONNX element type " + std::to_string(vi->elem_type) + ", got " + t.describe());
        if (vi->has_shape) {
            bool ok = vi->dims.size() == t.shape().size();
            for (size_t d = 0; ok && d < vi->dims.size(); ++d) ok = vi->dims[d] < 0 || vi->dims[d] == t.shape()[d];
            if (!ok) fail(label, "input '" + name + "' has shape " + shape_str(t.shape()) + ", the graph declares " + shape_str(vi->dims));
        }
        env[name] = t;
    }
    for (const auto& vi : m_graph.inputs)
        if (!env.count(vi.name)) fail(label, "graph input '" + vi.name + "' was not given");

    std::vector<std::string> wanted = outputs;
    if (wanted.empty())
        for (const auto& o : m_graph.outputs) wanted.push_back(o.name);
    const std::set<std::string> keep(wanted.begin(), wanted.end());

    for (size_t pos = 0; pos < m_order.size(); ++pos) {
        if (cancel) cancel->check();
        const Node& nd = m_graph.nodes[m_order[pos]];
        auto outs = execute(nd, [&](const std::string& in) -> const Tensor* {
            auto it = env.find(in);
            if (it != env.end()) return &it->second;
            auto jt = m_graph.initializers.find(in);
            return jt == m_graph.initializers.end() ? nullptr : &jt->second;
        });
        for (size_t i = 0; i < nd.outputs.size(); ++i)
            if (!nd.outputs[i].empty()) env[nd.outputs[i]] = std::move(outs[i]);
        for (const auto& dead : m_free_after[pos])
            if (!keep.count(dead)) env.erase(dead);
    }
    std::map<std::string, Tensor> result;
    for (const auto& name : wanted) {
        auto it = env.find(name);
        if (it != env.end()) {
            result[name] = it->second;
            continue;
        }
        auto jt = m_graph.initializers.find(name);
        if (jt == m_graph.initializers.end()) fail(label, "requested output '" + name + "' was not computed");
        result[name] = jt->second;
    }
    return result;
}

}  // namespace mixq::eval::onnx
