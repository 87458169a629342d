// SPDX-License-Identifier: MIT
// Data folder lookup: MIXQ_DATA_DIR, else <exe>/../share/mixq-studio, else the source tree's resources/.
#include "core/io/data_dir.h"

#include <cstdlib>
#include <system_error>

namespace mixq::io {
namespace fs = std::filesystem;

fs::path executable_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

std::vector<fs::path> data_dir_candidates() {
    if (const char* env = std::getenv("MIXQ_DATA_DIR"); env && *env) return {fs::path(env)};
    std::vector<fs::path> out;
    if (const fs::path exe = executable_dir(); !exe.empty())
        out.push_back((exe / ".." / "share" / "mixq-studio").lexically_normal());
#ifdef MIXQ_RESOURCES_DIR
    out.push_back(fs::path(MIXQ_RESOURCES_DIR));  // build-tree runs: the source tree's resources/
#endif
    return out;
}

fs::path data_dir() {
    const auto candidates = data_dir_candidates();
    std::error_code ec;
    for (const auto& c : candidates)
        if (fs::exists(c / "demo-model" / "config.json", ec)) return c;
    return candidates.empty() ? fs::path("share/mixq-studio") : candidates.front();
}

fs::path builtin_mmlu_dir() { return data_dir() / "eval-data" / "mmlu"; }

fs::path builtin_piqa_dir() { return data_dir() / "eval-data" / "piqa"; }

fs::path builtin_heldout_text() { return data_dir() / "eval-data" / "text" / "heldout.txt"; }

}  // namespace mixq::io
