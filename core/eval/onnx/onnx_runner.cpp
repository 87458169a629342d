// SPDX-License-Identifier: MIT
// OnnxRunner: load-time checks (operators, dangling inputs, cycles), topological order, execution with
// last-use freeing of intermediate values over value slots resolved at load, and donation of a dying input's buffer
// to the node that reads it last.
#include "core/eval/onnx/onnx_runner.h"

#include <algorithm>
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
    std::vector<size_t> order;  // topological
    std::deque<size_t> ready;
    for (size_t i = 0; i < n; ++i)
        if (pending[i] == 0) ready.push_back(i);
    while (!ready.empty()) {
        const size_t i = ready.front();
        ready.pop_front();
        order.push_back(i);
        for (auto u : users[i])
            if (--pending[u] == 0) ready.push_back(u);
    }
    if (order.size() != n) fail(label, "the graph has a cycle");
    // Constant folding: a node whose inputs are all initializers (Constant nodes, a Transpose or Reshape of a
    // weight) runs once here and its outputs become initializers, as ONNX Runtime folds them at session start.
    std::vector<size_t> remaining;
    for (size_t idx : order) {
        const Node& nd = m_graph.nodes[idx];
        bool constant = true;
        for (const auto& in : nd.inputs) constant = constant && (in.empty() || m_graph.initializers.count(in));
        if (!constant) {
            remaining.push_back(idx);
            continue;
        }
        std::vector<const Tensor*> ins;
        for (const auto& in : nd.inputs) ins.push_back(in.empty() ? nullptr : &m_graph.initializers.at(in));
        auto outs = execute(nd, table.at(op_key(nd.domain, nd.op_type)), std::move(ins));
        for (size_t i = 0; i < nd.outputs.size(); ++i)
            if (!nd.outputs[i].empty()) m_graph.initializers[nd.outputs[i]] = std::move(outs[i]);
        ++m_folded;
    }
    for (const auto& out : m_graph.outputs)
        if (!producer.count(out.name) && !m_graph.initializers.count(out.name) && !graph_inputs.count(out.name))
            fail(label, "graph output '" + out.name + "' is produced by no node");
    // Value slots: initializers first (fixed), then graph inputs and node outputs (filled per run).
    auto slot_of = [&](const std::string& name) {
        auto [it, fresh] = m_slot.emplace(name, static_cast<int>(m_init_of_slot.size()));
        if (fresh) {
            auto jt = m_graph.initializers.find(name);
            m_init_of_slot.push_back(jt == m_graph.initializers.end() ? nullptr : &jt->second);
        }
        return it->second;
    };
    for (const auto& [name, t] : m_graph.initializers) slot_of(name);
    for (const auto& in : m_graph.inputs) slot_of(in.name);
    std::vector<int> last_use;
    for (size_t idx : remaining) {
        const Node& nd = m_graph.nodes[idx];
        Step st;
        st.node = &nd;
        st.fn = &table.at(op_key(nd.domain, nd.op_type));
        for (const auto& in : nd.inputs) st.in.push_back(in.empty() ? -1 : slot_of(in));
        for (const auto& o : nd.outputs) st.out.push_back(o.empty() ? -1 : slot_of(o));
        for (size_t i = 0; i < st.in.size(); ++i)
            st.may_donate.push_back(st.in[i] >= 0 && !m_init_of_slot[static_cast<size_t>(st.in[i])] &&
                                    std::count(st.in.begin(), st.in.end(), st.in[i]) == 1);
        m_steps.push_back(std::move(st));
    }
    // Values whose last consumer is each step: freed right after it runs (and only then donated to it).
    last_use.assign(m_init_of_slot.size(), -1);
    for (size_t pos = 0; pos < m_steps.size(); ++pos)
        for (int s : m_steps[pos].in)
            if (s >= 0 && !m_init_of_slot[static_cast<size_t>(s)]) last_use[static_cast<size_t>(s)] = static_cast<int>(pos);
    for (size_t s = 0; s < last_use.size(); ++s)
        if (last_use[s] >= 0) m_steps[static_cast<size_t>(last_use[s])].free_after.push_back(static_cast<int>(s));
    for (size_t pos = 0; pos < m_steps.size(); ++pos) {
        auto& st = m_steps[pos];
        for (size_t i = 0; i < st.in.size(); ++i)
            if (st.may_donate[i] && last_use[static_cast<size_t>(st.in[i])] != static_cast<int>(pos)) st.may_donate[i] = 0;
    }
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

std::vector<Tensor> OnnxRunner::execute(const Node& nd, const OpFn& fn, std::vector<const Tensor*> inputs,
                                        std::vector<char> donate) const {
    const auto& label = m_graph.label;
    OpContext ctx{nd, label, std::move(inputs), {}, std::move(donate), 0};
    ctx.outputs.resize(nd.outputs.size());
    try {
        fn(ctx);
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
        for (size_t i = 0; i < ctx.outputs.size(); ++i) {
            const Tensor& t = ctx.outputs[i];
            if (i < 32 && (ctx.finite_checked >> i & 1u)) continue;
            if (t.defined() && t.dtype() == DType::Float && !engine::all_finite(t.data<float>(), t.numel()))
                engine::fail_nonfinite(label, "values in the output of " + nd.label());
        }
    return std::move(ctx.outputs);
}

std::map<std::string, Tensor> OnnxRunner::run(const std::map<std::string, Tensor>& inputs,
                                              const std::vector<std::string>& outputs,
                                              const CancelToken* cancel) const {
    std::map<std::string, Tensor> copy = inputs;
    return run_impl(copy, false, outputs, cancel);
}

std::map<std::string, Tensor> OnnxRunner::run(std::map<std::string, Tensor>&& inputs,
                                              const std::vector<std::string>& outputs,
                                              const CancelToken* cancel) const {
    return run_impl(inputs, true, outputs, cancel);
}

std::map<std::string, Tensor> OnnxRunner::run_impl(std::map<std::string, Tensor>& inputs, bool owned,
                                                   const std::vector<std::string>& outputs,
                                                   const CancelToken* cancel) const {
    const auto& label = m_graph.label;
    std::vector<Tensor> env(m_init_of_slot.size());
    std::vector<char> bound(m_init_of_slot.size(), 0);
    for (auto& [name, t] : inputs) {
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
        const auto s = static_cast<size_t>(m_slot.at(name));
        env[s] = std::move(t);
        bound[s] = 1;
    }
    if (!owned) inputs.clear();  // the copy run() made: its handles would keep every input from being exclusive
    for (const auto& vi : m_graph.inputs)
        if (!bound[static_cast<size_t>(m_slot.at(vi.name))]) fail(label, "graph input '" + vi.name + "' was not given");

    std::vector<std::string> wanted = outputs;
    if (wanted.empty())
        for (const auto& o : m_graph.outputs) wanted.push_back(o.name);
    std::vector<char> keep(m_init_of_slot.size(), 0);
    for (const auto& name : wanted)
        if (auto it = m_slot.find(name); it != m_slot.end()) keep[static_cast<size_t>(it->second)] = 1;

    std::vector<const Tensor*> ins;
    std::vector<char> donate;
    for (const Step& st : m_steps) {
        if (cancel) cancel->check();
        const Node& nd = *st.node;
        ins.assign(st.in.size(), nullptr);
        donate.assign(st.in.size(), 0);
        for (size_t i = 0; i < st.in.size(); ++i) {
            const int s = st.in[i];
            if (s < 0) continue;
            const auto su = static_cast<size_t>(s);
            const Tensor* t = m_init_of_slot[su] ? m_init_of_slot[su] : &env[su];
            if (!t->defined()) fail(label, nd.label() + ": input '" + nd.inputs[i] + "' has no value");
            ins[i] = t;
            donate[i] = st.may_donate[i] && !keep[su] && t->exclusive();
        }
        auto outs = execute(nd, *st.fn, ins, donate);
        for (size_t i = 0; i < st.out.size(); ++i)
            if (st.out[i] >= 0) env[static_cast<size_t>(st.out[i])] = std::move(outs[i]);
        for (int dead : st.free_after)
            if (!keep[static_cast<size_t>(dead)]) env[static_cast<size_t>(dead)] = Tensor();
    }
    std::map<std::string, Tensor> result;
    for (const auto& name : wanted) {
        auto it = m_slot.find(name);
        if (it != m_slot.end()) {
            const auto s = static_cast<size_t>(it->second);
            const Tensor& t = m_init_of_slot[s] ? *m_init_of_slot[s] : env[s];
            if (t.defined()) {
                result[name] = t;
                continue;
            }
        }
        fail(label, "requested output '" + name + "' was not computed");
    }
    return result;
}

}  // namespace mixq::eval::onnx
