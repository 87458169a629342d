// SPDX-License-Identifier: MIT
// Implementation of the temporary-name + fsync + rename writers declared in atomic_file.h.
#include "core/common/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/common/error.h"

namespace mixq {
namespace fs = std::filesystem;

namespace {
std::string unique_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(::getpid())};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(rng() & 0xffffffffull));
    return buf;
}
std::string errno_text() { return std::strerror(errno); }

/// "<pid>-<random>": the pid lets a later run recognise temporaries whose writer was killed.
std::string owned_suffix() { return std::to_string(::getpid()) + "-" + unique_suffix(); }

/// Removes ".<name>.tmp-<pid>-…" entries in `dir` left by processes that no longer exist (e.g. after SIGKILL).
void remove_stale_temporaries(const fs::path& dir, const std::string& name) {
    const std::string prefix = "." + name + ".tmp-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (f.rfind(prefix, 0) != 0) continue;
        const std::string rest = f.substr(prefix.size());
        const auto dash = rest.find('-');
        if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789") != dash) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // owner alive (or unknown)
        std::error_code rm;
        fs::remove_all(e.path(), rm);
    }
}
}  // namespace

void fsync_path(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path.string(), "cannot open for fsync: " + errno_text());
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0 && saved != EINVAL) {
        errno = saved;
        fail(path.string(), "fsync failed: " + errno_text());
    }
}

AtomicFileWriter::AtomicFileWriter(fs::path path) : m_path(std::move(path)) {
    const fs::path dir = m_path.has_parent_path() ? m_path.parent_path() : fs::path(".");
    remove_stale_temporaries(dir, m_path.filename().string());
    m_temp = dir / ("." + m_path.filename().string() + ".tmp-" + owned_suffix());
    m_fd = ::open(m_temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0) fail(m_path.string(), "cannot create output file: " + errno_text());
}

AtomicFileWriter::~AtomicFileWriter() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_committed) {
        std::error_code ec;
        fs::remove(m_temp, ec);
    }
}

void AtomicFileWriter::write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(m_path.string(), "write failed: " + errno_text());
        }
        p += n;
        size -= static_cast<size_t>(n);
        m_written += static_cast<uint64_t>(n);
    }
}

void AtomicFileWriter::commit() {
    if (::fsync(m_fd) != 0) fail(m_path.string(), "fsync failed: " + errno_text());
    if (::close(m_fd) != 0) {
        m_fd = -1;
        fail(m_path.string(), "close failed: " + errno_text());
    }
    m_fd = -1;
    std::error_code ec;
    fs::rename(m_temp, m_path, ec);
    if (ec) fail(m_path.string(), "cannot rename temporary file: " + ec.message());
    m_committed = true;
    const fs::path dir = m_path.has_parent_path() ? m_path.parent_path() : fs::path(".");
    fsync_path(dir);
}

void write_file_atomic(const fs::path& path, const std::string& contents) {
    AtomicFileWriter w(path);
    w.write(contents.data(), contents.size());
    w.commit();
}

AtomicDirectory::AtomicDirectory(fs::path final_dir) : m_final(std::move(final_dir)) {
    if (m_final.filename().empty()) m_final = m_final.parent_path();
    const fs::path parent = m_final.has_parent_path() ? m_final.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(parent, ec))
        fail(parent.string(), fs::exists(parent, ec) ? "output parent is not a folder" : "output parent folder does not exist");
    remove_stale_temporaries(parent, m_final.filename().string());
    m_temp = parent / ("." + m_final.filename().string() + ".tmp-" + owned_suffix());
    if (!fs::create_directory(m_temp, ec) || ec)
        fail(m_final.string(), "cannot create temporary output folder: " + (ec ? ec.message() : "exists"));
}

AtomicDirectory::~AtomicDirectory() {
    if (!m_committed) {
        std::error_code ec;
        fs::remove_all(m_temp, ec);
    }
}

void AtomicDirectory::commit(const std::function<bool(const std::string&)>& keep) {
    for (const auto& entry : fs::directory_iterator(m_temp))
        if (entry.is_regular_file()) fsync_path(entry.path());
    fsync_path(m_temp);
    std::error_code ec;
    if (fs::exists(m_final, ec)) {
        // Move the old folder aside first so that a crash never leaves neither.
        const fs::path old = m_final.parent_path() / ("." + m_final.filename().string() + ".old-" + unique_suffix());
        fs::rename(m_final, old, ec);
        if (ec) fail(m_final.string(), "cannot replace existing output folder: " + ec.message());
        fs::rename(m_temp, m_final, ec);
        if (ec) {
            fs::rename(old, m_final);
            fail(m_final.string(), "cannot rename temporary output folder: " + ec.message());
        }
        m_committed = true;
        if (keep) {
            for (const auto& e : fs::directory_iterator(old, ec)) {
                const std::string name = e.path().filename().string();
                if (!keep(name)) continue;
                std::error_code mv;
                fs::rename(e.path(), m_final / name, mv);
                if (mv) fail(old.string(), "could not move '" + name + "' back into " + m_final.string() + ": " +
                                               mv.message() + " (the old folder is kept)");
            }
            if (ec) fail(old.string(), "cannot list the replaced output folder: " + ec.message() + " (it is kept)");
        }
        fs::remove_all(old, ec);
    } else {
        fs::rename(m_temp, m_final, ec);
        if (ec) fail(m_final.string(), "cannot rename temporary output folder: " + ec.message());
    }
    m_committed = true;
    fsync_path(m_final.has_parent_path() ? m_final.parent_path() : fs::path("."));
}

}  // namespace mixq
