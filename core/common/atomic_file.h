// SPDX-License-Identifier: MIT
// Crash-safe output: write to a temporary name in the target folder, fsync, then rename over the target.
// Nothing partial is ever visible under the final name; a failed or cancelled write removes the temporary.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace mixq {

/// Writes `contents` to `path` atomically. Throws mixq::Error naming the path (e.g. disk full).
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

/// Streams into a temporary file beside `path`; commit() fsyncs and renames, the destructor discards.
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::filesystem::path path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, size_t size);
    uint64_t bytes_written() const { return m_written; }
    const std::filesystem::path& temp_path() const { return m_temp; }
    void commit();

private:
    std::filesystem::path m_path;
    std::filesystem::path m_temp;
    int m_fd = -1;
    uint64_t m_written = 0;
    bool m_committed = false;
};

/// A temporary directory beside `final_dir` that becomes `final_dir` on commit() (replacing an old one);
/// removed with its contents if never committed. commit(keep) moves the old folder's entries for which keep(name)
/// is true into the new one (files the caller did not write survive a replacement); the old folder is deleted only
/// when all of them were moved, else it stays beside the new one (named in the error).
class AtomicDirectory {
public:
    explicit AtomicDirectory(std::filesystem::path final_dir);
    ~AtomicDirectory();
    AtomicDirectory(const AtomicDirectory&) = delete;
    AtomicDirectory& operator=(const AtomicDirectory&) = delete;

    const std::filesystem::path& temp_dir() const { return m_temp; }
    void commit(const std::function<bool(const std::string&)>& keep = {});

private:
    std::filesystem::path m_final;
    std::filesystem::path m_temp;
    bool m_committed = false;
};

/// fsyncs a file or directory by path; throws mixq::Error on failure.
void fsync_path(const std::filesystem::path& path);

}  // namespace mixq
