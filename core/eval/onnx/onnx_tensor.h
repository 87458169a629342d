// SPDX-License-Identifier: MIT
// Tensor of the built-in ONNX runner: an element type, a shape and an immutable, shared byte buffer (owned or a
// view into the memory-mapped external data). fp16/bf16/fp64 ONNX tensors are held as fp32 ("computed in fp32").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mixq::eval::onnx {

using Shape = std::vector<int64_t>;

/// Element types, numbered as ONNX TensorProto.DataType. UInt4/Int4 are packed two per byte, low nibble first.
enum class DType : int { Float = 1, UInt8 = 2, Int8 = 3, Int32 = 6, Int64 = 7, Bool = 9, UInt4 = 21, Int4 = 22 };

const char* dtype_name(DType t);
/// Bytes of `numel` elements (packed for 4-bit types).
size_t dtype_bytes(DType t, int64_t numel);
/// The runner's type for an ONNX data_type: FLOAT16/BFLOAT16/DOUBLE map to Float; false when unsupported.
bool dtype_from_onnx(int onnx_type, DType* out);
std::string shape_str(const Shape& s);
/// Largest element count a tensor may have (2^59, so that byte counts fit in int64).
constexpr int64_t kMaxNumel = int64_t(1) << 59;
/// Element count; throws mixq::Error for a negative dim or a count above kMaxNumel.
int64_t shape_numel(const Shape& s);

/// Largest buffer Tensor::alloc makes (default: the machine's physical memory); a larger request, e.g. a folded
/// Expand to a shape a model file made up, is a mixq::Error instead of an allocation failure. Settable (fuzzing).
uint64_t max_tensor_bytes();
void set_max_tensor_bytes(uint64_t bytes);

class Tensor {
public:
    Tensor() = default;
    /// A zero-filled tensor of its own; throws mixq::Error above max_tensor_bytes().
    static Tensor alloc(DType t, Shape shape);
    /// As alloc() but not zero-filled: for an op that writes every element (saves a pass over large outputs).
    static Tensor alloc_uninit(DType t, Shape shape);
    /// A read-only view of `data` kept alive by `owner`. `file_pages`: `data` lies in a read-only private mapping of
    /// a file (external data), so release_file_pages() may drop its pages (they read back from the file).
    static Tensor view(DType t, Shape shape, const uint8_t* data, std::shared_ptr<const void> owner,
                       bool file_pages = false);
    static Tensor scalar_i64(int64_t v);
    static Tensor from_floats(Shape shape, const std::vector<float>& v);
    static Tensor from_i64(Shape shape, const std::vector<int64_t>& v);

    bool defined() const { return m_data != nullptr || m_shape_set; }
    DType dtype() const { return m_type; }
    const Shape& shape() const { return m_shape; }
    int64_t rank() const { return static_cast<int64_t>(m_shape.size()); }
    int64_t dim(int64_t i) const { return m_shape[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
    int64_t numel() const { return m_numel >= 0 ? m_numel : shape_numel(m_shape); }
    size_t nbytes() const { return dtype_bytes(m_type, numel()); }

    const uint8_t* bytes() const { return m_data; }
    template <class T>
    const T* data() const { return reinterpret_cast<const T*>(m_data); }
    /// Writable pointer; only for a tensor made by alloc() that no one else has seen yet.
    template <class T>
    T* mutable_data() { return reinterpret_cast<T*>(const_cast<uint8_t*>(m_data)); }

    /// Same buffer, another shape of the same element count.
    Tensor reshaped(Shape shape) const;
    /// True when this handle is the only one on a buffer made by alloc()/alloc_uninit() (not a view of a file or of
    /// caller memory): then an op that consumes the value last may write into it instead of allocating (the runner
    /// decides; see OpContext::donated).
    bool exclusive() const { return m_owned && m_owner && m_owner.use_count() == 1; }
    /// For a view of a mapped file: drops the whole pages it covers from this process's resident memory (a later
    /// read faults them in again from the file). Used once a weight has been repacked and its file bytes are no
    /// longer read, so the copy and the original are not both resident. No-op for any other tensor.
    void release_file_pages() const;
    /// Values as int64 (from Int64/Int32/UInt8/Int8/Bool), for shape and index inputs.
    std::vector<int64_t> to_i64() const;
    /// "float32[1,7,128]".
    std::string describe() const;

private:
    static Tensor allocate(DType t, Shape shape, bool zero);
    DType m_type = DType::Float;
    Shape m_shape;
    bool m_shape_set = false;
    bool m_file_pages = false;  ///< a view of a read-only private file mapping (view(..., true))
    bool m_owned = false;  ///< the buffer is this runner's own (allocate()), so it may be written when exclusive()
    int64_t m_numel = -1;  ///< cached by alloc() and reshaped(), whose shapes are checked; −1: from m_shape
    std::shared_ptr<const void> m_owner;
    const uint8_t* m_data = nullptr;
};

}  // namespace mixq::eval::onnx
