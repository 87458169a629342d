// SPDX-License-Identifier: MIT
// Deterministic calibration windows from a token stream.
#include "core/score/calibration.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/common/error.h"
#include "core/common/input_file.h"
#include "core/io/data_dir.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::score {
namespace fs = std::filesystem;

fs::path builtin_calibration_path() {
    if (const char* env = std::getenv("MIXQ_CALIBRATION_TEXT"); env && *env) return env;
    return io::data_dir() / "calibration" / "builtin.txt";
}

CalibrationSet make_calibration(const tok::Tokenizer& tok, const std::string& text, int samples, int seq_len,
                                const std::string& source) {
    if (samples < 1 || seq_len < 2) fail(source, "calibration needs at least 1 sample of at least 2 tokens");
    const std::vector<int> stream = tok.encode(text);
    if (stream.size() < 2) fail(source, "calibration text is empty (it encodes to " + std::to_string(stream.size()) + " tokens)");
    CalibrationSet set;
    set.source = source;
    const int64_t S = static_cast<int64_t>(stream.size());
    const int64_t need = static_cast<int64_t>(samples) * seq_len;
    // Evenly spaced starts over [0, S − T] (spacing ≥ T, so no overlap); when the stream is shorter than N×T the
    // windows follow each other and wrap around (repeat) the stream.
    for (int i = 0; i < samples; ++i) {
        const int64_t start = S >= need ? (samples == 1 ? 0 : i * (S - seq_len) / (samples - 1))
                                        : static_cast<int64_t>(i) * seq_len;
        std::vector<int> seq(static_cast<size_t>(seq_len));
        for (int t = 0; t < seq_len; ++t) seq[static_cast<size_t>(t)] = stream[static_cast<size_t>((start + t) % S)];
        set.sequences.push_back(std::move(seq));
    }
    return set;
}

CalibrationSet load_calibration(const tok::Tokenizer& tok, const fs::path& file, int samples, int seq_len) {
    const fs::path path = file.empty() ? builtin_calibration_path() : file;
    return make_calibration(tok, mixq::read_input_file(path, mixq::kMaxTextBytes), samples, seq_len, file.empty() ? "builtin" : path.string());
}

}  // namespace mixq::score
