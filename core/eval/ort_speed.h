// SPDX-License-Identifier: MIT
// The speed of an exported model in its deployment runtime: ONNX Runtime (npm onnxruntime-node, CPU EP) timed
// through ort_bench.js in a `node` subprocess, as ORT GenAI drives the file (prompt prefill, then greedy decode
// steps on the growing past). Found where the tests install it: $MIXQ_ORT_DIR, else the source tree's tests/ort,
// each only when it holds ort_bench.js and node_modules/onnxruntime-node and `node` is on PATH.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "core/common/job.h"

namespace mixq::eval {

struct OrtHarness {
    std::filesystem::path dir;  ///< holds ort_bench.js and node_modules/onnxruntime-node
    std::string version;        ///< onnxruntime-node's package version
};

/// The harness, or nullopt (with the reason in `why`) when ONNX Runtime is not installed for MixQ.
std::optional<OrtHarness> find_ort_harness(std::string* why = nullptr);

struct OrtSpeed {
    double prefill_tokens_per_s = 0, decode_tokens_per_s = 0, load_s = 0;
    int threads = 1, prompt = 0, decode = 0, runs = 0;
    std::string runtime;  ///< "ONNX Runtime 1.30.0, CPU, 2 threads"
};

/// Times `model_onnx` in ONNX Runtime (best of `runs` after a warm-up). Throws mixq::Error naming the model when the
/// runtime fails; cancel between the subprocess's lines is not possible, so `job` is checked before it starts.
OrtSpeed ort_speed(const OrtHarness& h, const std::filesystem::path& model_onnx, int threads, int prompt, int decode,
                   int runs, const JobContext& job = null_job());

}  // namespace mixq::eval
