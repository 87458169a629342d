// SPDX-License-Identifier: MIT
// Calibration set for scoring: N sequences × T tokens cut deterministically from a text (a file, or the built-in
// resources/calibration/builtin.txt) tokenized with the model's tokenizer.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace mixq::tok {
class Tokenizer;
}

namespace mixq::score {

struct CalibrationSet {
    std::vector<std::vector<int>> sequences;  ///< N × T token ids
    std::string source;                       ///< "builtin" or the file path
    int64_t total_tokens() const {
        int64_t n = 0;
        for (const auto& s : sequences) n += static_cast<int64_t>(s.size());
        return n;
    }
};

/// Path of the built-in calibration text: $MIXQ_CALIBRATION_TEXT, else data_dir()/calibration/builtin.txt.
std::filesystem::path builtin_calibration_path();

/// Tokenizes `text` and cuts `samples` windows of `seq_len` tokens spread evenly over the stream (windows do not
/// overlap when the stream is long enough; otherwise the stream is repeated). Throws when the text is empty.
CalibrationSet make_calibration(const tok::Tokenizer& tok, const std::string& text, int samples, int seq_len,
                                const std::string& source);

/// Reads `file` (or the built-in text when empty) and calls make_calibration.
CalibrationSet load_calibration(const tok::Tokenizer& tok, const std::filesystem::path& file, int samples, int seq_len);

}  // namespace mixq::score
