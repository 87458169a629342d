// SPDX-License-Identifier: MIT
// Tensor buffers, element-type table and shape helpers of the ONNX runner.
#include "core/eval/onnx/onnx_tensor.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "core/common/error.h"
#include "core/eval/onnx/tensor_pool.h"
#include "core/io/mapped_file.h"

namespace mixq::eval::onnx {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::Float: return "float32";
        case DType::UInt8: return "uint8";
        case DType::Int8: return "int8";
        case DType::Int32: return "int32";
        case DType::Int64: return "int64";
        case DType::Bool: return "bool";
        case DType::UInt4: return "uint4";
        case DType::Int4: return "int4";
    }
    return "?";
}

size_t dtype_bytes(DType t, int64_t numel) {
    const auto n = static_cast<size_t>(numel);
    switch (t) {
        case DType::Float:
        case DType::Int32: return n * 4;
        case DType::Int64: return n * 8;
        case DType::UInt4:
        case DType::Int4: return (n + 1) / 2;
        default: return n;
    }
}

bool dtype_from_onnx(int onnx_type, DType* out) {
    switch (onnx_type) {
        case 1: case 10: case 11: case 16: *out = DType::Float; return true;  // FLOAT, FLOAT16, DOUBLE, BFLOAT16
        case 2: *out = DType::UInt8; return true;
        case 3: *out = DType::Int8; return true;
        case 6: *out = DType::Int32; return true;
        case 7: *out = DType::Int64; return true;
        case 9: *out = DType::Bool; return true;
        case 21: *out = DType::UInt4; return true;
        case 22: *out = DType::Int4; return true;
        default: return false;
    }
}

std::string shape_str(const Shape& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (auto d : s) {
        // A model file can declare any dims: a negative one or a product past kMaxNumel (which keeps byte counts of
        // up to 8-byte elements inside int64) is an error, not an overflow.
        if (d < 0 || (d != 0 && n > kMaxNumel / d))
            fail("onnx runner", "shape " + shape_str(s) + " has a negative dimension or more than 2^59 elements");
        n *= d;
    }
    return n;
}

namespace {
uint64_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : uint64_t(1) << 40;
}
std::atomic<uint64_t> g_max_tensor_bytes{physical_memory()};
}  // namespace

uint64_t max_tensor_bytes() { return g_max_tensor_bytes.load(); }
void set_max_tensor_bytes(uint64_t bytes) { g_max_tensor_bytes.store(bytes); }

Tensor Tensor::allocate(DType t, Shape shape, bool zero) {
    for (auto d : shape)
        if (d < 0) fail("onnx runner", "negative dimension in shape " + shape_str(shape));
    Tensor r;
    r.m_type = t;
    r.m_shape = std::move(shape);
    r.m_shape_set = true;
    r.m_numel = shape_numel(r.m_shape);
    const size_t n = std::max<size_t>(r.nbytes(), 1);
    if (n > max_tensor_bytes())
        fail("onnx runner", std::string("a ") + dtype_name(t) + shape_str(r.m_shape) + " tensor needs " + std::to_string(n) +
                                " bytes, more than the limit of " + std::to_string(max_tensor_bytes()));
    auto buf = pooled_buffer(n, zero);
    r.m_data = buf.get();
    r.m_owner = std::shared_ptr<const void>(buf, buf.get());
    r.m_owned = true;
    return r;
}

Tensor Tensor::alloc(DType t, Shape shape) { return allocate(t, std::move(shape), true); }
Tensor Tensor::alloc_uninit(DType t, Shape shape) { return allocate(t, std::move(shape), false); }

Tensor Tensor::view(DType t, Shape shape, const uint8_t* data, std::shared_ptr<const void> owner, bool file_pages) {
    Tensor r;
    r.m_type = t;
    r.m_shape = std::move(shape);
    r.m_shape_set = true;
    r.m_data = data;
    r.m_owner = std::move(owner);
    r.m_file_pages = file_pages;
    return r;
}

void Tensor::release_file_pages() const {
    if (m_file_pages) io::release_mapped_pages(m_data, nbytes());
}

Tensor Tensor::scalar_i64(int64_t v) { return from_i64({}, {v}); }

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& v) {
    Tensor t = alloc(DType::Float, std::move(shape));
    if (static_cast<int64_t>(v.size()) != t.numel()) fail("onnx runner", "value count does not match shape");
    std::memcpy(t.mutable_data<float>(), v.data(), v.size() * sizeof(float));
    return t;
}

Tensor Tensor::from_i64(Shape shape, const std::vector<int64_t>& v) {
    Tensor t = alloc(DType::Int64, std::move(shape));
    if (static_cast<int64_t>(v.size()) != t.numel()) fail("onnx runner", "value count does not match shape");
    std::memcpy(t.mutable_data<int64_t>(), v.data(), v.size() * sizeof(int64_t));
    return t;
}

Tensor Tensor::reshaped(Shape shape) const {
    if (shape_numel(shape) != numel())
        fail("onnx runner", "cannot reshape " + describe() + " to " + shape_str(shape));
    Tensor r = *this;
    r.m_shape = std::move(shape);
    return r;
}

std::vector<int64_t> Tensor::to_i64() const {
    const int64_t n = numel();
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        switch (m_type) {
            case DType::Int64: out[i] = data<int64_t>()[i]; break;
            case DType::Int32: out[i] = data<int32_t>()[i]; break;
            case DType::UInt8:
            case DType::Bool: out[i] = data<uint8_t>()[i]; break;
            case DType::Int8: out[i] = data<int8_t>()[i]; break;
            default: fail("onnx runner", std::string("expected an integer tensor, got ") + describe());
        }
    }
    return out;
}

std::string Tensor::describe() const { return std::string(dtype_name(m_type)) + shape_str(m_shape); }

}  // namespace mixq::eval::onnx
