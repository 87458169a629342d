// SPDX-License-Identifier: MIT
// Streaming writer of model.onnx.data with alignment and per-tensor regions (or a counter of them).
#include "core/export/external_data.h"

#include <string>
#include <vector>

#include "core/common/error.h"

namespace mixq::exporter {

ExternalDataWriter::ExternalDataWriter(const std::filesystem::path& path)
    : m_file(std::make_unique<AtomicFileWriter>(path)) {}

ExternalDataWriter::ExternalDataWriter() = default;

uint64_t ExternalDataWriter::bytes_written() const { return m_file ? m_file->bytes_written() : m_counted; }

void ExternalDataWriter::begin(uint64_t expected_bytes) {
    if (m_open) fail("model.onnx.data", "internal error: tensor started before the previous one ended");
    if (expected_bytes > kAlignThreshold) {
        const uint64_t at = bytes_written();
        const uint64_t pad = (kAlignment - at % kAlignment) % kAlignment;
        if (pad) {
            static const std::vector<char> zeros(kAlignment, 0);
            write(zeros.data(), static_cast<size_t>(pad));
            m_padding += pad;
        }
    }
    m_begin = bytes_written();
    m_expected = expected_bytes;
    m_open = true;
}

void ExternalDataWriter::write(const void* data, size_t size) {
    if (m_file)
        m_file->write(data, size);
    else
        m_counted += size;
}

DataRegion ExternalDataWriter::reserve(const std::string& tensor, uint64_t size) {
    if (m_file) fail("model.onnx.data", "internal error: reserve() on a writer with a file");
    begin(size);
    m_counted += size;
    return end(tensor);
}

DataRegion ExternalDataWriter::end(const std::string& tensor) {
    m_open = false;
    const DataRegion r{m_begin, bytes_written() - m_begin};
    if (r.length != m_expected)
        fail("model.onnx.data", "internal error: tensor " + tensor + " has " + std::to_string(r.length) +
                                    " bytes, expected " + std::to_string(m_expected));
    return r;
}

DataRegion ExternalDataWriter::put(const std::string& tensor, const void* data, size_t size) {
    begin(size);
    write(data, size);
    return end(tensor);
}

}  // namespace mixq::exporter
