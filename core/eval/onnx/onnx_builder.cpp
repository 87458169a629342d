// SPDX-License-Identifier: MIT
// ModelBuilder on top of the onnx-ml protobuf; save() splits external initializers into the .data file.
#include "core/eval/onnx/onnx_builder.h"

#include <onnx/onnx_pb.h>

#include <cstring>

#include "core/common/atomic_file.h"
#include "core/common/error.h"

namespace mixq::eval::onnx {

struct ModelBuilder::Impl {
    ::onnx::ModelProto model;
    std::vector<bool> external;  ///< per initializer
};

namespace {
void set_type(::onnx::ValueInfoProto* vi, int elem_type, const std::vector<int64_t>& dims,
              const std::vector<std::string>& names) {
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* sh = tt->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
        auto* d = sh->add_dim();
        if (dims[i] >= 0) d->set_dim_value(dims[i]);
        else d->set_dim_param(i < names.size() && !names[i].empty() ? names[i] : "d" + std::to_string(i));
    }
}
}  // namespace

ModelBuilder::ModelBuilder(int64_t opset, int64_t ms_opset, int64_t ir_version) : m(std::make_unique<Impl>()) {
    m->model.set_ir_version(ir_version);
    m->model.set_producer_name("mixq-test");
    auto* o = m->model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    auto* ms = m->model.add_opset_import();
    ms->set_domain("com.microsoft");
    ms->set_version(ms_opset);
    m->model.mutable_graph()->set_name("main_graph");
}

ModelBuilder::~ModelBuilder() = default;

void ModelBuilder::input(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                         const std::vector<std::string>& dim_names) {
    auto* vi = m->model.mutable_graph()->add_input();
    vi->set_name(name);
    set_type(vi, elem_type, dims, dim_names);
}

void ModelBuilder::output(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                          const std::vector<std::string>& dim_names) {
    auto* vi = m->model.mutable_graph()->add_output();
    vi->set_name(name);
    set_type(vi, elem_type, dims, dim_names);
}

void ModelBuilder::initializer(const std::string& name, int elem_type, const std::vector<int64_t>& shape,
                               const void* data, size_t bytes, bool external) {
    auto* t = m->model.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(elem_type);
    for (auto d : shape) t->add_dims(d);
    t->set_raw_data(std::string(static_cast<const char*>(data), bytes));
    m->external.push_back(external);
}

void ModelBuilder::init_f32(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v,
                            bool external) {
    initializer(name, onnx_type::kFloat, shape, v.data(), v.size() * sizeof(float), external);
}
void ModelBuilder::init_i64(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int64_t>& v,
                            bool external) {
    initializer(name, onnx_type::kInt64, shape, v.data(), v.size() * sizeof(int64_t), external);
}
void ModelBuilder::init_u8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<uint8_t>& v,
                           bool external) {
    initializer(name, onnx_type::kUInt8, shape, v.data(), v.size(), external);
}

ModelBuilder::NodeRef ModelBuilder::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                         const std::vector<std::string>& outputs, const std::string& domain,
                                         const std::string& name) {
    auto* g = m->model.mutable_graph();
    auto* n = g->add_node();
    n->set_op_type(op_type);
    n->set_domain(domain);
    n->set_name(name.empty() ? "/" + op_type + "_" + std::to_string(g->node_size()) : name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return NodeRef(this, g->node_size() - 1);
}

namespace {
::onnx::AttributeProto* add_attr(::onnx::ModelProto& mp, int idx, const std::string& name,
                                 ::onnx::AttributeProto_AttributeType type) {
    auto* a = mp.mutable_graph()->mutable_node(idx)->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
}
}  // namespace

ModelBuilder::NodeRef& ModelBuilder::NodeRef::i(const std::string& name, int64_t v) {
    add_attr(m_b->m->model, m_idx, name, ::onnx::AttributeProto_AttributeType_INT)->set_i(v);
    return *this;
}
ModelBuilder::NodeRef& ModelBuilder::NodeRef::f(const std::string& name, float v) {
    add_attr(m_b->m->model, m_idx, name, ::onnx::AttributeProto_AttributeType_FLOAT)->set_f(v);
    return *this;
}
ModelBuilder::NodeRef& ModelBuilder::NodeRef::s(const std::string& name, const std::string& v) {
    add_attr(m_b->m->model, m_idx, name, ::onnx::AttributeProto_AttributeType_STRING)->set_s(v);
    return *this;
}
ModelBuilder::NodeRef& ModelBuilder::NodeRef::ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = add_attr(m_b->m->model, m_idx, name, ::onnx::AttributeProto_AttributeType_INTS);
    for (auto x : v) a->add_ints(x);
    return *this;
}
ModelBuilder::NodeRef& ModelBuilder::NodeRef::t(const std::string& name, int elem_type, const std::vector<int64_t>& shape,
                                                const void* data, size_t bytes) {
    auto* a = add_attr(m_b->m->model, m_idx, name, ::onnx::AttributeProto_AttributeType_TENSOR);
    auto* t = a->mutable_t();
    t->set_data_type(elem_type);
    for (auto d : shape) t->add_dims(d);
    t->set_raw_data(std::string(static_cast<const char*>(data), bytes));
    return *this;
}

std::string ModelBuilder::serialize_inline() const {
    std::string out;
    if (!m->model.SerializeToString(&out)) fail("ModelBuilder", "protobuf serialization failed");
    return out;
}

void ModelBuilder::save(const std::filesystem::path& model_path, const std::string& data_name) const {
    ::onnx::ModelProto copy = m->model;
    std::string data;
    auto* g = copy.mutable_graph();
    for (int i = 0; i < g->initializer_size(); ++i) {
        if (!m->external[static_cast<size_t>(i)]) continue;
        auto* t = g->mutable_initializer(i);
        while (data.size() % 16) data.push_back('\0');
        const size_t offset = data.size();
        data += t->raw_data();
        const size_t length = t->raw_data().size();
        t->clear_raw_data();
        t->set_data_location(::onnx::TensorProto_DataLocation_EXTERNAL);
        for (const auto& [k, v] : {std::pair<std::string, std::string>{"location", data_name},
                                   {"offset", std::to_string(offset)},
                                   {"length", std::to_string(length)}}) {
            auto* e = t->add_external_data();
            e->set_key(k);
            e->set_value(v);
        }
    }
    std::string bytes;
    if (!copy.SerializeToString(&bytes)) fail(model_path.string(), "protobuf serialization failed");
    if (!data.empty()) write_file_atomic(model_path.parent_path() / data_name, data);
    write_file_atomic(model_path, bytes);
}

}  // namespace mixq::eval::onnx
