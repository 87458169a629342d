// SPDX-License-Identifier: MIT
// load_graph: ModelProto -> Graph (attributes parsed, initializers decoded, external data mmap'd and checked).
#include "core/eval/onnx/onnx_graph.h"

#include <onnx/onnx_pb.h>  // onnx-ml.pb.h (ONNX_ML is defined by the onnx target)

#include <cstring>

#include "core/common/error.h"
#include "core/common/half.h"
#include "core/common/text_file.h"
#include "core/io/mapped_file.h"

namespace mixq::eval::onnx {
namespace fs = std::filesystem;

std::string Node::label() const {
    return "node '" + name + "' (" + (domain.empty() ? std::string() : domain + ":") + op_type + ")";
}

int64_t Node::attr_int(std::string_view a, int64_t dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.i;
}
float Node::attr_float(std::string_view a, float dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.f;
}
std::vector<int64_t> Node::attr_ints(std::string_view a) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? std::vector<int64_t>{} : it->second.ints;
}

namespace {

/// Bytes per element in the file (0: 4-bit packed).
size_t onnx_elem_size(int t) {
    switch (t) {
        case 1: case 6: return 4;
        case 2: case 3: case 9: return 1;
        case 7: case 11: return 8;
        case 10: case 16: return 2;
        case 21: case 22: return 0;
        default: return 0;
    }
}

size_t onnx_raw_bytes(int t, int64_t n) {
    const size_t es = onnx_elem_size(t);
    return es ? es * static_cast<size_t>(n) : (static_cast<size_t>(n) + 1) / 2;
}

struct Loader {
    fs::path base_dir;
    std::string label;
    std::map<std::string, std::shared_ptr<io::MappedFile>> files;
    uint64_t external_bytes = 0;

    [[noreturn]] void bad(const std::string& what) const { fail(label, what); }

    std::shared_ptr<io::MappedFile> data_file(const std::string& location, const std::string& tensor) {
        auto it = files.find(location);
        if (it != files.end()) return it->second;
        const fs::path rel(location);
        if (location.empty() || rel.is_absolute())
            bad("initializer '" + tensor + "': external data location '" + location + "' must be a relative file name");
        for (const auto& part : rel)
            if (part == "..") bad("initializer '" + tensor + "': external data location '" + location + "' leaves the model folder");
        const fs::path p = base_dir / rel;
        if (!fs::exists(p)) bad("initializer '" + tensor + "': external data file " + p.string() + " does not exist");
        auto f = std::make_shared<io::MappedFile>(p);
        files[location] = f;
        return f;
    }

    /// Converts `n` elements of ONNX type `t` from raw little-endian bytes into a runner tensor.
    Tensor from_raw(int t, const Shape& shape, const uint8_t* p, size_t len, std::shared_ptr<const void> owner,
                    const std::string& name) {
        const int64_t n = shape_numel(shape);
        const size_t want = onnx_raw_bytes(t, n);
        if (len != want)
            bad("initializer '" + name + "': " + std::to_string(len) + " data bytes for shape " + shape_str(shape) +
                ", expected " + std::to_string(want));
        if (t == 10 || t == 16 || t == 11) {
            Tensor out = Tensor::alloc(DType::Float, shape);
            float* o = out.mutable_data<float>();
            for (int64_t i = 0; i < n; ++i) {
                if (t == 11) {
                    double d;
                    std::memcpy(&d, p + 8 * i, 8);
                    o[i] = static_cast<float>(d);
                } else {
                    uint16_t h;
                    std::memcpy(&h, p + 2 * i, 2);
                    o[i] = t == 10 ? f16_to_float(h) : bf16_to_float(h);
                }
            }
            return out;
        }
        DType dt;
        if (!dtype_from_onnx(t, &dt)) bad("initializer '" + name + "': unsupported data type " + std::to_string(t));
        const size_t align = std::max<size_t>(onnx_elem_size(t), 1);
        if (owner && reinterpret_cast<uintptr_t>(p) % align == 0) return Tensor::view(dt, shape, p, std::move(owner), /*file_pages=*/true);
        Tensor out = Tensor::alloc(dt, shape);
        if (len) std::memcpy(out.mutable_data<uint8_t>(), p, len);
        return out;
    }

    Tensor tensor(const ::onnx::TensorProto& tp, const std::string& name) {
        Shape shape(tp.dims().begin(), tp.dims().end());
        for (auto d : shape)
            if (d < 0) bad("initializer '" + name + "': negative dimension");
        const int t = tp.data_type();
        DType probe;
        if (!dtype_from_onnx(t, &probe)) bad("initializer '" + name + "': unsupported data type " + std::to_string(t));
        const int64_t n = shape_numel(shape);
        if (tp.data_location() == ::onnx::TensorProto_DataLocation_EXTERNAL) {
            std::string location;
            int64_t offset = 0, length = -1;
            for (const auto& kv : tp.external_data()) {
                try {
                    if (kv.key() == "location") location = kv.value();
                    else if (kv.key() == "offset") offset = std::stoll(kv.value());
                    else if (kv.key() == "length") length = std::stoll(kv.value());
                } catch (const std::exception&) {
                    bad("initializer '" + name + "': bad external_data " + kv.key() + " '" + kv.value() + "'");
                }
            }
            auto f = data_file(location, name);
            const size_t want = onnx_raw_bytes(t, n);
            if (length < 0) length = static_cast<int64_t>(want);
            if (offset < 0 || static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > f->size())
                bad("initializer '" + name + "': external data [" + std::to_string(offset) + ", +" +
                    std::to_string(length) + ") lies outside " + location + " (" + std::to_string(f->size()) + " bytes)");
            external_bytes += static_cast<uint64_t>(length);
            return from_raw(t, shape, f->data() + offset, static_cast<size_t>(length),
                            std::shared_ptr<const void>(f, f->data()), name);
        }
        if (tp.has_raw_data()) {
            const std::string& raw = tp.raw_data();
            return from_raw(t, shape, reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), nullptr, name);
        }
        // Typed fields: the value count is checked before the buffer for the declared shape is allocated.
        const int64_t have = t == 1 ? tp.float_data_size() : t == 7 ? tp.int64_data_size()
                           : t == 11 ? tp.double_data_size() : tp.int32_data_size();
        const auto want_values = (t == 21 || t == 22) ? static_cast<int64_t>(onnx_raw_bytes(t, n)) : n;
        if (have != want_values)
            bad("initializer '" + name + "': " + std::to_string(have) + " values for shape " + shape_str(shape));
        std::vector<uint8_t> raw(onnx_raw_bytes(t, n));
        auto count_check = [&](int64_t have, int64_t want) {
            if (have != want)
                bad("initializer '" + name + "': " + std::to_string(have) + " values for shape " + shape_str(shape));
        };
        switch (t) {
            case 1:
                count_check(tp.float_data_size(), n);
                if (!raw.empty()) std::memcpy(raw.data(), tp.float_data().data(), raw.size());  // empty: data() may be null
                break;
            case 7:
                count_check(tp.int64_data_size(), n);
                if (!raw.empty()) std::memcpy(raw.data(), tp.int64_data().data(), raw.size());  // empty: data() may be null
                break;
            case 11:
                count_check(tp.double_data_size(), n);
                if (!raw.empty()) std::memcpy(raw.data(), tp.double_data().data(), raw.size());  // empty: data() may be null
                break;
            case 6:
                count_check(tp.int32_data_size(), n);
                if (!raw.empty()) std::memcpy(raw.data(), tp.int32_data().data(), raw.size());  // empty: data() may be null
                break;
            case 2: case 3: case 9:
                count_check(tp.int32_data_size(), n);
                for (int64_t i = 0; i < n; ++i) raw[i] = static_cast<uint8_t>(tp.int32_data(static_cast<int>(i)));
                break;
            case 10: case 16:
                count_check(tp.int32_data_size(), n);
                for (int64_t i = 0; i < n; ++i) {
                    const auto h = static_cast<uint16_t>(tp.int32_data(static_cast<int>(i)));
                    std::memcpy(raw.data() + 2 * i, &h, 2);
                }
                break;
            case 21: case 22:
                count_check(tp.int32_data_size(), static_cast<int64_t>(raw.size()));
                for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(tp.int32_data(static_cast<int>(i)));
                break;
            default: bad("initializer '" + name + "': unsupported data type " + std::to_string(t));
        }
        return from_raw(t, shape, raw.data(), raw.size(), nullptr, name);
    }

    ValueInfo value_info(const ::onnx::ValueInfoProto& vi) {
        ValueInfo v;
        v.name = vi.name();
        if (vi.type().has_tensor_type()) {
            const auto& tt = vi.type().tensor_type();
            v.elem_type = tt.elem_type();
            if (tt.has_shape()) {
                v.has_shape = true;
                for (const auto& d : tt.shape().dim()) {
                    v.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
                    v.dim_names.push_back(d.has_dim_param() ? d.dim_param() : std::string());
                }
            }
        }
        return v;
    }
};

Graph convert(const ::onnx::ModelProto& m, const fs::path& base_dir, const std::string& label) {
    Loader ld{base_dir, label, {}, 0};
    Graph g;
    g.label = label;
    if (!m.has_graph()) fail(label, "model has no graph");
    for (const auto& op : m.opset_import()) {
        std::string d = op.domain();
        if (d == "ai.onnx") d.clear();
        g.opsets[d] = op.version();
    }
    const auto& gp = m.graph();
    for (const auto& init : gp.initializer()) {
        Tensor t = ld.tensor(init, init.name());
        g.initializer_bytes += t.nbytes();
        g.initializers[init.name()] = std::move(t);
    }
    if (gp.sparse_initializer_size() > 0) fail(label, "sparse initializers are not supported");
    for (const auto& in : gp.input())
        if (!g.initializers.count(in.name())) g.inputs.push_back(ld.value_info(in));
    for (const auto& out : gp.output()) g.outputs.push_back(ld.value_info(out));
    int index = 0;
    for (const auto& np : gp.node()) {
        Node n;
        n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
        ++index;
        n.op_type = np.op_type();
        n.domain = np.domain() == "ai.onnx" ? std::string() : np.domain();
        n.inputs.assign(np.input().begin(), np.input().end());
        n.outputs.assign(np.output().begin(), np.output().end());
        for (const auto& ap : np.attribute()) {
            Attribute a;
            switch (ap.type()) {
                case ::onnx::AttributeProto_AttributeType_INT: a.kind = Attribute::Kind::Int; a.i = ap.i(); break;
                case ::onnx::AttributeProto_AttributeType_FLOAT: a.kind = Attribute::Kind::Float; a.f = ap.f(); break;
                case ::onnx::AttributeProto_AttributeType_STRING: a.kind = Attribute::Kind::String; a.s = ap.s(); break;
                case ::onnx::AttributeProto_AttributeType_INTS:
                    a.kind = Attribute::Kind::Ints;
                    a.ints.assign(ap.ints().begin(), ap.ints().end());
                    break;
                case ::onnx::AttributeProto_AttributeType_FLOATS:
                    a.kind = Attribute::Kind::Floats;
                    a.floats.assign(ap.floats().begin(), ap.floats().end());
                    break;
                case ::onnx::AttributeProto_AttributeType_TENSOR:
                    a.kind = Attribute::Kind::Tensor;
                    a.t = ld.tensor(ap.t(), n.name + "." + ap.name());
                    break;
                default: break;  // graphs, sparse tensors, ...: kept as Other; ops that need them reject the node
            }
            n.attrs[ap.name()] = std::move(a);
        }
        g.nodes.push_back(std::move(n));
    }
    g.external_bytes = ld.external_bytes;
    return g;
}

}  // namespace

Graph load_graph_from_bytes(const std::string& bytes, const fs::path& base_dir, const std::string& label) {
    ::onnx::ModelProto m;
    if (!m.ParseFromString(bytes)) fail(label, "not a valid ONNX ModelProto (protobuf parse failed)");
    return convert(m, base_dir, label);
}

Graph load_graph(const fs::path& model_path) {
    return load_graph_from_bytes(read_text_file(model_path, uint64_t(2) << 30), model_path.parent_path(), model_path.string());
}

}  // namespace mixq::eval::onnx
