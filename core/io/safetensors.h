// SPDX-License-Identifier: MIT
// safetensors files: a validated, memory-mapped reader (single file or sharded via model.safetensors.index.json)
// and a writer. Tensor bytes are never copied at open time; read_f32 / read_rows_f32 convert on demand.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/io/dtype.h"
#include "core/io/mapped_file.h"

namespace mixq::io {

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    size_t offset = 0;  ///< absolute byte offset in the file (past the header)
    size_t nbytes = 0;
    int file_index = 0;  ///< which shard

    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
    int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
    int64_t row_elems() const { return shape.empty() ? 1 : numel() / (shape[0] == 0 ? 1 : shape[0]); }
};

/// Parses and validates a safetensors header held in `bytes` (the whole file mapped) and returns its tensors.
/// Checks: length prefix, JSON, known dtypes, shape × dtype == byte range, ranges inside the file, no overlap,
/// no duplicate names. Errors name `file_label`.
std::vector<TensorInfo> parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& file_label,
                                                 std::map<std::string, std::string>* metadata = nullptr);

/// All tensors of one model, across shards, memory-mapped.
class TensorStore {
public:
    /// Opens `dir/model.safetensors`, or the shards listed by `dir/model.safetensors.index.json`.
    static std::shared_ptr<TensorStore> open_folder(const std::filesystem::path& dir);
    /// Opens one safetensors file.
    static std::shared_ptr<TensorStore> open_file(const std::filesystem::path& file);

    bool has(const std::string& name) const { return m_index.count(name) != 0; }
    /// Throws mixq::Error "<dir>: tensor NAME not found" when absent.
    const TensorInfo& info(const std::string& name) const;
    std::vector<std::string> names() const;
    const std::vector<TensorInfo>& tensors() const { return m_tensors; }
    const std::vector<std::filesystem::path>& files() const { return m_paths; }
    uint64_t total_bytes() const;

    /// Raw bytes of a tensor inside the map.
    const uint8_t* raw(const TensorInfo& t) const;
    /// Raw bytes of a 16-bit tensor that is used in place (never converted whole), after the same non-finite check
    /// as read_f32 on every element (a bit test per value: exponent all ones).
    const uint8_t* raw_checked(const std::string& name) const;
    /// Whole tensor converted to fp32. Every read checks the values it converts: a NaN or Inf weight throws
    /// mixq::Error naming the shard file, the tensor and the element.
    std::vector<float> read_f32(const std::string& name) const;
    /// Rows [row0, row0+nrows) of a tensor (first dimension) converted to fp32 into `out`.
    void read_rows_f32(const std::string& name, int64_t row0, int64_t nrows, float* out) const;
    /// Drops the pages of a tensor from RSS (for low-memory streaming).
    void release(const std::string& name) const;

private:
    std::vector<std::unique_ptr<MappedFile>> m_files;
    std::vector<std::filesystem::path> m_paths;
    std::vector<TensorInfo> m_tensors;
    std::map<std::string, size_t> m_index;
    std::string m_label;
    void add_file(const std::filesystem::path& path, const std::vector<std::string>* expected);
    void check_finite(const TensorInfo& t, int64_t first_elem, const float* v, size_t n) const;
};

/// A tensor to write: name, dtype, shape and its raw bytes (already in `dtype`).
struct TensorToWrite {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

/// Writes a safetensors file atomically (temporary name + rename). Tensors are laid out in the given order.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mixq::io
