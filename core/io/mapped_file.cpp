// SPDX-License-Identifier: MIT
// POSIX implementation of MappedFile.
#include "core/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/common/error.h"

namespace mixq::io {

MappedFile::MappedFile(const std::filesystem::path& path) : m_path(path) {
    // O_NONBLOCK: a named pipe is refused below instead of blocking open() until a writer appears.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        fail(path.string(), errno == ELOOP ? std::string("cannot open: a symbolic link loop (too many levels of symbolic links)")
                                           : std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        fail(path.string(), std::string("cannot stat: ") + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path.string(), "is not a regular file (a pipe, device or folder); MixQ reads only regular files");
    }
    m_size = static_cast<size_t>(st.st_size);
    if (m_size > 0) {
        void* p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            ::close(fd);
            fail(path.string(), std::string("cannot map: ") + std::strerror(errno));
        }
        m_data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
}

void MappedFile::release(size_t offset, size_t len) const {
    if (m_data) release_mapped_pages(m_data + offset, len);
}

void release_mapped_pages(const uint8_t* p, size_t len) {
    if (!p || len == 0) return;
    // The mapping is PROT_READ and MAP_PRIVATE, so it holds no private changes and MADV_DONTNEED loses nothing.
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto a = reinterpret_cast<uintptr_t>(p);
    const uintptr_t begin = (a + page - 1) / page * page, end = (a + len) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace mixq::io
