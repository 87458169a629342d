// SPDX-License-Identifier: MIT
// Where MixQ's data files (demo model, calibration text) are found: relative to the running executable
// (<exe>/../share/mixq-studio, as installed by the .deb or `cmake --install` with any prefix or DESTDIR), then the
// source tree's resources/ for a build-tree run. Environment overrides: MIXQ_DATA_DIR (the whole folder),
// MIXQ_DEMO_MODEL (the demo model folder), MIXQ_CALIBRATION_TEXT (the built-in calibration text). The evaluation data
// shipped with the app (MMLU-Redux sample, PIQA validation; licences beside them) is in <data dir>/eval-data.
#pragma once
#include <filesystem>
#include <vector>

namespace mixq::io {

/// Folder holding the running executable (from /proc/self/exe); empty when it cannot be read.
std::filesystem::path executable_dir();

/// The folders searched for data, in order (MIXQ_DATA_DIR alone when it is set).
std::vector<std::filesystem::path> data_dir_candidates();

/// The first candidate that holds demo-model/config.json, else the first candidate (so errors name a real place).
std::filesystem::path data_dir();

/// The shipped MMLU folder (holds test/<subject>_test.csv): <data dir>/eval-data/mmlu.
std::filesystem::path builtin_mmlu_dir();

/// The shipped PIQA folder (valid.jsonl + valid-labels.lst): <data dir>/eval-data/piqa.
std::filesystem::path builtin_piqa_dir();

/// The shipped held-out English text for perplexity and the measured KLD of an evaluation (written for MixQ, not
/// part of the calibration text): <data dir>/eval-data/text/heldout.txt.
std::filesystem::path builtin_heldout_text();

}  // namespace mixq::io
