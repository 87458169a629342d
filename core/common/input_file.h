// SPDX-License-Identifier: MIT
// Bounded reads of the files a user hands MixQ (config.json, tokenizer.json, plans, scores, texts, data sets):
// only a regular file of at most `max_bytes` is read, so a named pipe, a device (a symlink to /dev/zero), a
// symlink loop or a huge file is refused in one line "<path>: <problem>" instead of blocking or exhausting memory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace mixq {

/// Limits for the files MixQ reads whole (docs/RELIABILITY.md, "Input limits").
constexpr uint64_t kMaxJsonBytes = uint64_t(64) << 20;        ///< config.json, plans, scores, index, overrides
constexpr uint64_t kMaxTokenizerBytes = uint64_t(512) << 20;  ///< tokenizer.json
constexpr uint64_t kMaxTextBytes = uint64_t(1) << 30;         ///< calibration / perplexity texts, data sets

/// The whole file, after checking that it is a regular file (symlinks followed) of at most `max_bytes`.
/// Opening never blocks (O_NONBLOCK), so a FIFO is refused rather than waited on. Throws mixq::Error.
std::string read_input_file(const std::filesystem::path& path, uint64_t max_bytes);

/// Like read_input_file, but returns false (and leaves `out` alone) when the file does not exist.
bool read_input_file_if_present(const std::filesystem::path& path, uint64_t max_bytes, std::string& out);

/// "1 GiB", "64 MiB": a limit as written in messages.
std::string byte_limit_text(uint64_t bytes);

}  // namespace mixq
