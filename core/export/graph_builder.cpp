// SPDX-License-Identifier: MIT
// ModelProto assembly for the exporter: nodes, attributes, constants, typed inputs/outputs, external initializers.
#include "core/export/graph_builder.h"

#include "core/common/error.h"

namespace mixq::exporter {

GraphBuilder::GraphBuilder(int ir_version, int64_t onnx_opset, int64_t ms_opset, const std::string& data_file)
    : m_data_file(data_file) {
    m_model.set_ir_version(ir_version);
    m_model.set_producer_name("mixq-studio");
    m_model.set_producer_version(MIXQ_VERSION);
    auto* op = m_model.add_opset_import();
    op->set_domain("");
    op->set_version(onnx_opset);
    op = m_model.add_opset_import();
    op->set_domain("com.microsoft");
    op->set_version(ms_opset);
    m_graph = m_model.mutable_graph();
    m_graph->set_name("main_graph");
}

onnx::NodeProto& GraphBuilder::node(const std::string& op, const std::string& name,
                                    const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                                    const std::string& domain) {
    onnx::NodeProto* n = m_graph->add_node();
    n->set_op_type(op);
    n->set_name(name);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
}

void GraphBuilder::attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}

void GraphBuilder::attr(onnx::NodeProto& n, const std::string& name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}

void GraphBuilder::attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}

namespace {
std::string list_literal(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}
}  // namespace

std::string GraphBuilder::const_i64(const std::vector<int64_t>& values) {
    const std::string name = "/model/constants/INT64/" + list_literal(values);
    if (m_constants.count(name)) return name;
    auto& n = node("Constant", "/model/constant_nodes/INT64/" + list_literal(values), {}, {name});
    auto* a = n.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    auto* t = a->mutable_t();
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t x : values) t->add_int64_data(x);
    m_constants[name] = name;
    return name;
}

std::string GraphBuilder::const_i64_scalar(int64_t value) {
    const std::string name = "/model/constants/INT64/" + std::to_string(value);
    if (m_constants.count(name)) return name;
    auto& n = node("Constant", "/model/constant_nodes/INT64/" + std::to_string(value), {}, {name});
    auto* a = n.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    auto* t = a->mutable_t();
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_int64_data(value);
    m_constants[name] = name;
    return name;
}

void GraphBuilder::set_type(onnx::ValueInfoProto& v, int elem_type, const std::vector<Dim>& dims) {
    auto* tt = v.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
        auto* dim = shape->add_dim();
        if (std::holds_alternative<int64_t>(d))
            dim->set_dim_value(std::get<int64_t>(d));
        else
            dim->set_dim_param(std::get<std::string>(d));
    }
}

void GraphBuilder::input(const std::string& name, int elem_type, const std::vector<Dim>& dims) {
    auto* v = m_graph->add_input();
    v->set_name(name);
    set_type(*v, elem_type, dims);
}

void GraphBuilder::output(const std::string& name, int elem_type, const std::vector<Dim>& dims) {
    auto* v = m_graph->add_output();
    v->set_name(name);
    set_type(*v, elem_type, dims);
}

void GraphBuilder::external_initializer(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                                        const DataRegion& region) {
    auto* t = m_graph->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add_entry = [&](const std::string& k, const std::string& v) {
        auto* e = t->add_external_data();
        e->set_key(k);
        e->set_value(v);
    };
    add_entry("location", m_data_file);
    add_entry("offset", std::to_string(region.offset));
    add_entry("length", std::to_string(region.length));
}

std::string GraphBuilder::serialize() const {
    std::string out;
    if (!m_model.SerializeToString(&out)) fail("model.onnx", "cannot serialize the ONNX model");
    return out;
}

}  // namespace mixq::exporter
