// SPDX-License-Identifier: MIT
// Reads a whole file into a string for the evaluation inputs (data sets, configs, text, ONNX models): only a
// regular file of bounded size (core/common/input_file.h); one-line error "<path>: <problem>".
#pragma once
#include <filesystem>
#include <string>

#include "core/common/input_file.h"

namespace mixq {

inline std::string read_text_file(const std::filesystem::path& path, uint64_t max_bytes = mixq::kMaxTextBytes) {
    return mixq::read_input_file(path, max_bytes);
}

}  // namespace mixq
