// SPDX-License-Identifier: MIT
// Helpers shared by the Qt Test executables: where the shared goldens/data live, a loud skip when they are
// absent, the demo model path, a scratch folder per test, and small numeric comparisons.
#pragma once
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mixq_test {

inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("MIXQ_SHARED_DIR")) return env;
    return MIXQ_SHARED_DIR;
}
inline bool have_shared() { return std::filesystem::exists(shared_dir() / "models" / "tiny-llama-kjv" / "config.json"); }
inline std::filesystem::path golden_dir() { return shared_dir() / "models" / "tiny-llama-kjv" / "golden"; }
inline std::filesystem::path demo_model() { return std::filesystem::path(MIXQ_SOURCE_RESOURCES) / "demo-model"; }

/// A fresh, empty scratch folder under the build tree for one test.
inline std::filesystem::path scratch(const std::string& name) {
    auto p = std::filesystem::path(MIXQ_TEST_WORK_DIR) / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace mixq_test

/// Skips the current test, loudly, when ../shared is absent (ctest reports it as skipped).
#define MIXQ_REQUIRE_SHARED()                                                                              \
    do {                                                                                                   \
        if (!mixq_test::have_shared()) {                                                                   \
            qWarning("MIXQ-SKIP: shared data folder %s is absent; this test cannot check against goldens", \
                     mixq_test::shared_dir().c_str());                                                     \
            QSKIP("MIXQ-SKIP: shared data folder absent");                                                 \
        }                                                                                                  \
    } while (0)
