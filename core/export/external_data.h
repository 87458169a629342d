// SPDX-License-Identifier: MIT
// ExternalDataWriter: streams the initializer bytes of an exported model into one external data file
// (model.onnx.data) through an AtomicFileWriter, recording each tensor's offset and length; tensors larger than
// 1 MiB start at a 64 KiB boundary (as onnx_ir saves them, so ONNX Runtime can map them). Without a path it
// only counts, so the export's size can be known exactly before anything is quantized.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>

#include "core/common/atomic_file.h"

namespace mixq::exporter {

/// Where one tensor's bytes lie in the data file.
struct DataRegion {
    uint64_t offset = 0;
    uint64_t length = 0;
};

class ExternalDataWriter {
public:
    explicit ExternalDataWriter(const std::filesystem::path& path);
    /// A counting writer: no file; regions, padding and sizes exactly as a real write would lay them out (the
    /// export size estimate).
    ExternalDataWriter();
    bool counting() const { return !m_file; }

    /// Starts a tensor of `expected_bytes` (pads first when it is larger than 1 MiB). One tensor at a time.
    void begin(uint64_t expected_bytes);
    void write(const void* data, size_t size);
    /// Ends the current tensor; throws mixq::Error when the bytes written differ from the expected size.
    DataRegion end(const std::string& tensor);
    /// begin + write + end for a tensor held in memory.
    DataRegion put(const std::string& tensor, const void* data, size_t size);
    /// A counting writer's region of `size` bytes for `tensor` (no data).
    DataRegion reserve(const std::string& tensor, uint64_t size);

    uint64_t bytes_written() const;
    uint64_t padding_bytes() const { return m_padding; }
    void commit() {
        if (m_file) m_file->commit();
    }

    static constexpr uint64_t kAlignThreshold = uint64_t(1) << 20;
    static constexpr uint64_t kAlignment = uint64_t(64) << 10;

private:
    std::unique_ptr<AtomicFileWriter> m_file;
    uint64_t m_begin = 0;
    uint64_t m_expected = 0;
    uint64_t m_padding = 0;
    uint64_t m_counted = 0;  ///< bytes of a counting writer
    bool m_open = false;
};

}  // namespace mixq::exporter
