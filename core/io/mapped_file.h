// SPDX-License-Identifier: MIT
// Read-only memory map of a whole file (POSIX mmap), the backing store for lazily read safetensors tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace mixq::io {

class MappedFile {
public:
    /// Maps `path` read-only. Throws mixq::Error naming the file when it cannot be opened or mapped.
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }
    const std::filesystem::path& path() const { return m_path; }
    /// Tells the kernel that [offset, offset+len) is no longer needed (drops clean pages from RSS).
    void release(size_t offset, size_t len) const;

private:
    std::filesystem::path m_path;
    const uint8_t* m_data = nullptr;
    size_t m_size = 0;
};

/// Drops the whole pages inside [p, p+len) of a read-only file mapping (a MappedFile's bytes) from this
/// process's resident memory; a later read faults them in again from the file. A page shared with bytes outside
/// the range is kept.
void release_mapped_pages(const uint8_t* p, size_t len);

}  // namespace mixq::io
