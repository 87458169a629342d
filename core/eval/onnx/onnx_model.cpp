// SPDX-License-Identifier: MIT
// OnnxModel: genai_config.json parsing, graph I/O checks, and sessions that thread the KV cache through runs.
#include "core/eval/onnx/onnx_model.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/common/error.h"
#include "core/common/text_file.h"

namespace mixq::eval::onnx {
namespace fs = std::filesystem;

std::string layer_input_name(const std::string& pattern, int i) {
    const auto p = pattern.find("%d");
    if (p == std::string::npos) return pattern;
    return pattern.substr(0, p) + std::to_string(i) + pattern.substr(p + 2);
}

namespace {
std::string layer_name(const std::string& pattern, int i) { return layer_input_name(pattern, i); }
}  // namespace

GenaiDecoderConfig load_genai_config(const fs::path& path) {
    const std::string label = path.string();
    nlohmann::json j;
    const std::string text = read_text_file(path);
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        fail(label, std::string("malformed JSON (") + e.what() + ")");
    }
    GenaiDecoderConfig c;
    auto need = [&](const nlohmann::json& obj, const char* key, const std::string& where) -> const nlohmann::json& {
        if (!obj.is_object() || !obj.contains(key)) fail(label, "missing " + where + "." + key);
        return obj.at(key);
    };
    try {
        const auto& model = need(j, "model", "");
        const auto& dec = need(model, "decoder", "model");
        c.vocab_size = need(model, "vocab_size", "model").get<int>();
        c.context_length = model.value("context_length", 0);
        if (c.context_length <= 0 && j.contains("search")) c.context_length = j["search"].value("max_length", 0);
        if (const auto e = model.value("eos_token_id", nlohmann::json()); e.is_number_integer()) c.eos_token_id = e.get<int>();
        else if (e.is_array() && !e.empty() && e[0].is_number_integer()) c.eos_token_id = e[0].get<int>();
        c.filename = dec.value("filename", c.filename);
        c.num_layers = need(dec, "num_hidden_layers", "model.decoder").get<int>();
        c.num_kv_heads = need(dec, "num_key_value_heads", "model.decoder").get<int>();
        c.head_size = need(dec, "head_size", "model.decoder").get<int>();
        c.num_heads = dec.value("num_attention_heads", 0);
        c.hidden_size = dec.value("hidden_size", 0);
        if (dec.contains("inputs")) {
            const auto& i = dec["inputs"];
            c.input_ids = i.value("input_ids", c.input_ids);
            c.attention_mask = i.value("attention_mask", c.attention_mask);
            c.position_ids = i.value("position_ids", c.position_ids);
            c.past_key_names = i.value("past_key_names", c.past_key_names);
            c.past_value_names = i.value("past_value_names", c.past_value_names);
        }
        if (dec.contains("outputs")) {
            const auto& o = dec["outputs"];
            c.logits = o.value("logits", c.logits);
            c.present_key_names = o.value("present_key_names", c.present_key_names);
            c.present_value_names = o.value("present_value_names", c.present_value_names);
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail(label, std::string("bad field type (") + e.what() + ")");
    }
    if (c.num_layers <= 0 || c.num_kv_heads <= 0 || c.head_size <= 0 || c.vocab_size <= 0)
        fail(label, "num_hidden_layers, num_key_value_heads, head_size and vocab_size must be positive");
    if (c.context_length <= 0) fail(label, "missing model.context_length (or search.max_length)");
    return c;
}

bool is_export_dir(const fs::path& dir) {
    return fs::is_directory(dir) && fs::exists(dir / "genai_config.json") && fs::exists(dir / "model.onnx");
}

class OnnxSession : public engine::LmSession {
public:
    OnnxSession(const OnnxModel& m, int capacity) : m_model(m), m_capacity(capacity) {
        const auto& c = m.m_cfg;
        // In place: the cache at full capacity, zero-filled (positions not yet written are never attended).
        const int64_t len = m.m_kv_in_place ? capacity : 0;
        for (int i = 0; i < c.num_layers; ++i) {
            m_past_k.push_back(Tensor::alloc(DType::Float, {1, c.num_kv_heads, len, c.head_size}));
            m_past_v.push_back(len ? Tensor::alloc(DType::Float, {1, c.num_kv_heads, len, c.head_size}) : m_past_k.back());
        }
    }
    /// A fork shares no KV buffer with this session, so both keep appending in place.
    OnnxSession(const OnnxSession& o) : m_model(o.m_model), m_capacity(o.m_capacity), m_len(o.m_len), m_broken(o.m_broken) {
        for (const auto* list : {&o.m_past_k, &o.m_past_v})
            for (const Tensor& t : *list) {
                Tensor c = t;
                if (m_model.m_kv_in_place && t.defined() && t.numel() > 0) {  // the written positions of each head
                    c = Tensor::alloc(t.dtype(), t.shape());
                    const int64_t heads = t.dim(0) * t.dim(1), cap = t.dim(2), d = t.dim(3);
                    for (int64_t h = 0; h < heads; ++h)
                        std::memcpy(c.mutable_data<float>() + h * cap * d, t.data<float>() + h * cap * d,
                                    static_cast<size_t>(m_len * d) * sizeof(float));
                }
                (list == &o.m_past_k ? m_past_k : m_past_v).push_back(std::move(c));
            }
    }
    engine::RowMatrix feed(const std::vector<int>& ids) override {
        const auto& c = m_model.m_cfg;
        const auto& r = *m_model.m_runner;
        const auto S = static_cast<int64_t>(ids.size());
        if (S == 0) fail(r.graph().label, "feed() needs at least one token");
        if (m_broken) fail(r.graph().label, "an earlier feed() of this session failed; its KV cache is gone");
        if (m_len + S > m_capacity)
            fail(r.graph().label, "sequence of " + std::to_string(m_len + S) + " positions exceeds the session capacity " +
                                      std::to_string(m_capacity));
        std::map<std::string, Tensor> in;
        auto int_tensor = [&](const std::string& name, Shape shape, auto value_at) {
            const ValueInfo* vi = r.input_info(name);
            const bool i32 = vi && vi->elem_type == 6;
            Tensor t = Tensor::alloc(i32 ? DType::Int32 : DType::Int64, std::move(shape));
            for (int64_t k = 0; k < t.numel(); ++k) {
                if (i32) t.mutable_data<int32_t>()[k] = static_cast<int32_t>(value_at(k));
                else t.mutable_data<int64_t>()[k] = value_at(k);
            }
            in[name] = std::move(t);
        };
        int_tensor(c.input_ids, {1, S}, [&](int64_t k) { return static_cast<int64_t>(ids[static_cast<size_t>(k)]); });
        if (r.has_input(c.attention_mask))
            int_tensor(c.attention_mask, {1, m_len + S}, [](int64_t) { return int64_t(1); });
        if (r.has_input(c.position_ids))
            int_tensor(c.position_ids, {1, S}, [&](int64_t k) { return m_len + k; });
        std::vector<std::string> outs{c.logits};
        for (int i = 0; i < c.num_layers; ++i) {
            // Moved, not copied: the runner may then append to the buffers in place.
            in[layer_name(c.past_key_names, i)] = std::move(m_past_k[static_cast<size_t>(i)]);
            in[layer_name(c.past_value_names, i)] = std::move(m_past_v[static_cast<size_t>(i)]);
            outs.push_back(layer_name(c.present_key_names, i));
            outs.push_back(layer_name(c.present_value_names, i));
        }
        std::map<std::string, Tensor> res;
        try {
            res = r.run(std::move(in), outs);
        } catch (...) {
            m_broken = true;  // the cache was handed to the run
            throw;
        }
        const Tensor& lg = res[c.logits];
        if (lg.dtype() != DType::Float || lg.rank() != 3 || lg.dim(0) != 1 || lg.dim(2) != c.vocab_size)
            fail(r.graph().label, "output '" + c.logits + "' is " + lg.describe() + ", expected float32[1,S," +
                                      std::to_string(c.vocab_size) + "]");
        if (lg.dim(1) != S)
            fail(r.graph().label, "output '" + c.logits + "' covers " + std::to_string(lg.dim(1)) + " of " +
                                      std::to_string(S) + " positions (pruned lm_head?); per-position logits are needed");
        for (int i = 0; i < c.num_layers; ++i) {
            Tensor& k = res[layer_name(c.present_key_names, i)];
            const int64_t want = m_model.m_kv_in_place ? m_capacity : m_len + S;
            if (k.rank() != 4 || k.dim(2) != want) {
                m_broken = true;
                fail(r.graph().label, "present key of layer " + std::to_string(i) + " is " + k.describe() +
                                          ", expected length " + std::to_string(want));
            }
            m_past_k[static_cast<size_t>(i)] = std::move(k);
            m_past_v[static_cast<size_t>(i)] = std::move(res[layer_name(c.present_value_names, i)]);
        }
        engine::RowMatrix out(S, c.vocab_size);
        std::copy(lg.data<float>(), lg.data<float>() + lg.numel(), out.data());
        // No second scan of the logits: the runner checks every node's float output (set_check_finite(true) in
        // OnnxModel's constructor), the node that made the logits included, and a prefill's logits are 16 MB.
        m_len += S;
        return out;
    }
    int length() const override { return static_cast<int>(m_len); }
    // In place, a fork copies the written part of the cache; otherwise tensors are shared handles.
    std::unique_ptr<engine::LmSession> fork() const override { return std::make_unique<OnnxSession>(*this); }

private:
    const OnnxModel& m_model;
    int64_t m_capacity;
    int64_t m_len = 0;
    bool m_broken = false;
    std::vector<Tensor> m_past_k, m_past_v;
};

OnnxModel::OnnxModel(const fs::path& export_dir) {
    m_cfg = load_genai_config(export_dir / "genai_config.json");
    m_runner = OnnxRunner::load(export_dir / m_cfg.filename);
    m_runner->set_check_finite(true);
    const auto& g = m_runner->graph();
    if (!m_runner->has_input(m_cfg.input_ids)) fail(g.label, "graph has no input '" + m_cfg.input_ids + "'");
    if (!m_runner->has_output(m_cfg.logits)) fail(g.label, "graph has no output '" + m_cfg.logits + "'");
    for (int i = 0; i < m_cfg.num_layers; ++i)
        for (const auto& n : {layer_name(m_cfg.past_key_names, i), layer_name(m_cfg.past_value_names, i)})
            if (!m_runner->has_input(n)) fail(g.label, "graph has no input '" + n + "' (genai_config.json names it)");
    // In-place KV: each past input's only consumer is a GroupQueryAttention (slot 3 keys, 4 values) whose present
    // output (1, 2) is the matching present name; a graph that concatenates or reshapes the past keeps exact lengths.
    m_kv_in_place = true;
    for (int i = 0; i < m_cfg.num_layers && m_kv_in_place; ++i)
        for (int kv = 0; kv < 2; ++kv) {
            const std::string past = layer_name(kv ? m_cfg.past_value_names : m_cfg.past_key_names, i);
            const std::string present = layer_name(kv ? m_cfg.present_value_names : m_cfg.present_key_names, i);
            int uses = 0;
            bool ok = false;
            for (const auto& n : g.nodes)
                for (size_t j = 0; j < n.inputs.size(); ++j) {
                    if (n.inputs[j] != past) continue;
                    ++uses;
                    ok = n.op_type == "GroupQueryAttention" && n.domain == "com.microsoft" && j == size_t(3 + kv) &&
                         n.outputs.size() > size_t(1 + kv) && n.outputs[size_t(1 + kv)] == present;
                }
            m_kv_in_place = m_kv_in_place && uses == 1 && ok && m_runner->has_output(present);
        }
    // Bytes streamed per decoded token: the weights of every matrix multiply (codes, scales, zero points).
    std::set<std::string> seen;
    for (const auto& n : g.nodes) {
        if (n.op_type != "MatMulNBits" && n.op_type != "MatMul") continue;
        for (size_t i = 1; i < n.inputs.size(); ++i) {
            auto it = g.initializers.find(n.inputs[i]);
            if (it != g.initializers.end() && seen.insert(n.inputs[i]).second) m_weight_bytes += it->second.nbytes();
        }
    }
}

std::unique_ptr<engine::LmSession> OnnxModel::start(int capacity) {
    if (capacity > m_cfg.context_length)
        fail(m_runner->graph().label, "sequence of " + std::to_string(capacity) + " positions exceeds the context length " +
                                          std::to_string(m_cfg.context_length));
    return std::make_unique<OnnxSession>(*this, std::max(capacity, 1));
}

}  // namespace mixq::eval::onnx
