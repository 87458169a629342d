// SPDX-License-Identifier: MIT
// ModelBuilder: writes small ONNX ModelProtos without exposing protobuf (tests and fixtures build graphs with it:
// inputs/outputs, initializers inline or in an external .data file, nodes with attributes).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace mixq::eval::onnx {

/// ONNX TensorProto data types used by the builder's callers.
namespace onnx_type {
constexpr int kFloat = 1, kUInt8 = 2, kInt8 = 3, kInt32 = 6, kInt64 = 7, kBool = 9, kFloat16 = 10, kUInt4 = 21, kInt4 = 22;
}

class ModelBuilder {
public:
    explicit ModelBuilder(int64_t opset = 21, int64_t ms_opset = 1, int64_t ir_version = 10);
    ~ModelBuilder();
    ModelBuilder(const ModelBuilder&) = delete;
    ModelBuilder& operator=(const ModelBuilder&) = delete;

    /// dims: a value >= 0 is fixed, -1 is symbolic (named "d<i>"), use dim_names to name them.
    void input(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
               const std::vector<std::string>& dim_names = {});
    void output(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                const std::vector<std::string>& dim_names = {});

    /// An initializer from raw little-endian bytes; `external` ones go to the .data file on save().
    void initializer(const std::string& name, int elem_type, const std::vector<int64_t>& shape, const void* data,
                     size_t bytes, bool external = true);
    void init_f32(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v, bool external = true);
    void init_i64(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int64_t>& v, bool external = true);
    void init_u8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<uint8_t>& v, bool external = true);

    class NodeRef {
    public:
        NodeRef& i(const std::string& name, int64_t v);
        NodeRef& f(const std::string& name, float v);
        NodeRef& s(const std::string& name, const std::string& v);
        NodeRef& ints(const std::string& name, const std::vector<int64_t>& v);
        /// A tensor attribute (e.g. Constant's value), inline.
        NodeRef& t(const std::string& name, int elem_type, const std::vector<int64_t>& shape, const void* data, size_t bytes);

    private:
        friend class ModelBuilder;
        NodeRef(ModelBuilder* b, int idx) : m_b(b), m_idx(idx) {}
        ModelBuilder* m_b;
        int m_idx;
    };
    NodeRef node(const std::string& op_type, const std::vector<std::string>& inputs,
                 const std::vector<std::string>& outputs, const std::string& domain = "", const std::string& name = "");

    /// The model with every initializer inline (external flags ignored).
    std::string serialize_inline() const;
    /// Writes model.onnx and, when any initializer is external, `data_name` beside it (offsets 16-byte aligned).
    void save(const std::filesystem::path& model_path, const std::string& data_name = "model.onnx.data") const;

private:
    struct Impl;
    std::unique_ptr<Impl> m;
};

}  // namespace mixq::eval::onnx
