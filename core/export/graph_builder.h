// SPDX-License-Identifier: MIT
// GraphBuilder (internal to core/export, includes the onnx protobuf): assembles the ModelProto of an export —
// nodes with attributes, shared Constant nodes named as the genai builder names them
// ("/model/constants/INT64/[1]"), graph inputs/outputs with symbolic dims, and initializers that point into the
// external data file.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/export/external_data.h"

namespace mixq::exporter {

/// A dimension of a graph input/output: a fixed size or a symbolic name.
using Dim = std::variant<int64_t, std::string>;

class GraphBuilder {
public:
    GraphBuilder(int ir_version, int64_t onnx_opset, int64_t ms_opset, const std::string& data_file);

    onnx::NodeProto& node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& domain = "");
    static void attr(onnx::NodeProto& n, const std::string& name, int64_t v);
    static void attr(onnx::NodeProto& n, const std::string& name, float v);
    static void attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);

    /// Output name of a shared Constant node holding an int64 list ("/model/constants/INT64/[0, -1, 32]") or,
    /// with scalar, an int64 scalar ("/model/constants/INT64/1").
    std::string const_i64(const std::vector<int64_t>& values);
    std::string const_i64_scalar(int64_t value);

    void input(const std::string& name, int elem_type, const std::vector<Dim>& dims);
    void output(const std::string& name, int elem_type, const std::vector<Dim>& dims);
    /// An initializer whose bytes lie in the external data file.
    void external_initializer(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                              const DataRegion& region);

    int node_count() const { return m_model.graph().node_size(); }
    int initializer_count() const { return m_model.graph().initializer_size(); }
    /// The serialized ModelProto.
    std::string serialize() const;
    const onnx::ModelProto& model() const { return m_model; }

private:
    onnx::ModelProto m_model;
    onnx::GraphProto* m_graph = nullptr;
    std::string m_data_file;
    std::map<std::string, std::string> m_constants;  ///< value name -> itself, for deduplication

    static void set_type(onnx::ValueInfoProto& v, int elem_type, const std::vector<Dim>& dims);
};

}  // namespace mixq::exporter
