// SPDX-License-Identifier: MIT
// Reads a whole file into a string for the evaluation inputs (data sets, configs, text); one-line error
// "<path>: cannot open file".
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/common/error.h"

namespace mixq {

inline std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), "cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace mixq
