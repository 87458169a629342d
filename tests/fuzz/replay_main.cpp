// SPDX-License-Identifier: MIT
// Replay driver for the fuzz targets without libFuzzer: linked with one tests/fuzz/fuzz_<name>.cpp into
// replay_<name> (the sanitized-replay ctest tests, label asan; see tests/fuzz/CMakeLists.txt). Every argument that
// is a file, and every regular file under an argument that is a directory (recursively, sorted by path), is read
// and passed once to LLVMFuzzerTestOneInput (after LLVMFuzzerInitialize, when the target defines it). Prints
// "replayed N inputs from ARGS" and exits 0; a missing path or no input at all is an error (exit 2, one line).
// A crash, a target's abort() or a sanitizer report ends the process: the input being run is named on stderr
// (for UBSan only with UBSAN_OPTIONS=abort_on_error=1; a LeakSanitizer report comes at exit and names no input).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define MIXQ_REPLAY_HAVE_SANITIZER_API 1
#endif
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace fs = std::filesystem;

namespace {

// The input being replayed, for the crash message (a fixed buffer: read from a signal handler).
char g_current[4096] = "";

void write_current() {
    if (g_current[0] == '\0') return;
    static const char kPrefix[] = "replay: failed on input ";
    (void)!write(2, kPrefix, sizeof kPrefix - 1);
    (void)!write(2, g_current, std::strlen(g_current));
    (void)!write(2, "\n", 1);
    g_current[0] = '\0';  // once: the death callback and then the SIGABRT handler may both run
}

void on_abort(int sig) {
    write_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

bool read_file(const fs::path& p, std::vector<uint8_t>& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    std::vector<fs::path> inputs;
    std::string from;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg(argv[i]);
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<fs::path> files;
            for (auto it = fs::recursive_directory_iterator(arg, ec); !ec && it != fs::recursive_directory_iterator();
                 it.increment(ec))
                if (it->is_regular_file()) files.push_back(it->path());
            if (ec) {
                std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
                return 2;
            }
            std::sort(files.begin(), files.end());
            inputs.insert(inputs.end(), files.begin(), files.end());
        } else if (fs::is_regular_file(arg, ec)) {
            inputs.push_back(arg);
        } else {
            std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 2;
        }
        from += (from.empty() ? "" : ", ") + arg.string();
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: no input files under %s\n", from.c_str());
        return 2;
    }

    signal(SIGABRT, on_abort);
#ifdef MIXQ_REPLAY_HAVE_SANITIZER_API
    __sanitizer_set_death_callback(write_current);
#endif
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

    std::vector<uint8_t> bytes;
    for (const auto& p : inputs) {
        if (!read_file(p, bytes)) {
            std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
            return 2;
        }
        std::snprintf(g_current, sizeof g_current, "%s", p.c_str());
        // An exact-size heap copy, so that ASan catches a read one past the end (libFuzzer does the same).
        std::unique_ptr<uint8_t[]> data(new uint8_t[bytes.size()]);
        if (!bytes.empty()) std::memcpy(data.get(), bytes.data(), bytes.size());
        LLVMFuzzerTestOneInput(data.get(), bytes.size());
    }
    g_current[0] = '\0';
    std::printf("replayed %zu inputs from %s\n", inputs.size(), from.c_str());
    return 0;
}
