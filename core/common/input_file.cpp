// SPDX-License-Identifier: MIT
// read_input_file: open without blocking, fstat, refuse non-regular and oversized files, read with a bound.
#include "core/common/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/common/error.h"

namespace mixq {

std::string byte_limit_text(uint64_t bytes) {
    if (bytes >= (uint64_t(1) << 30) && bytes % (uint64_t(1) << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
    if (bytes >= (uint64_t(1) << 20) && bytes % (uint64_t(1) << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

namespace {

std::string open_problem(int err) {
    if (err == ELOOP) return "cannot open: a symbolic link loop (too many levels of symbolic links)";
    if (err == ENOENT) return "cannot open: no such file";
    return std::string("cannot open: ") + std::strerror(err);
}

const char* kind_of(mode_t m) {
    if (S_ISFIFO(m)) return "a named pipe";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISDIR(m)) return "a folder";
    return "a special file";
}

/// Reads the open regular file `fd` of `size` bytes (re-checked while reading: a file that grows is refused too).
std::string read_bounded(int fd, uint64_t size, uint64_t max_bytes, const std::string& where) {
    std::string out;
    out.resize(static_cast<size_t>(size));
    size_t got = 0;
    for (;;) {
        if (got == out.size()) {
            if (out.size() > max_bytes) break;
            out.resize(out.size() + 4096);  // probe for growth past the size fstat reported
        }
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(where, std::string("read error: ") + std::strerror(errno));
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    if (got > max_bytes)
        fail(where, "grew past the limit of " + byte_limit_text(max_bytes) + " while being read");
    out.resize(got);
    return out;
}

}  // namespace

std::string read_input_file(const std::filesystem::path& path, uint64_t max_bytes) {
    std::string out;
    if (!read_input_file_if_present(path, max_bytes, out)) fail(path.string(), open_problem(ENOENT));
    return out;
}

bool read_input_file_if_present(const std::filesystem::path& path, uint64_t max_bytes, std::string& out) {
    const std::string where = path.string();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) return false;
        fail(where, open_problem(errno));
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail(where, std::string("cannot stat: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
        fail(where, std::string("is ") + kind_of(st.st_mode) + ", not a regular file; MixQ reads only regular files");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > max_bytes)
        fail(where, "is " + std::to_string(size) + " bytes, more than the limit of " + byte_limit_text(max_bytes) +
                        " for this kind of file");
    // Back to blocking reads: O_NONBLOCK only served to never wait in open() on a FIFO.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    out = read_bounded(fd, size, max_bytes, where);
    return true;
}

}  // namespace mixq
