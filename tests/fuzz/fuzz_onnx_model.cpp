// SPDX-License-Identifier: MIT
// Fuzz target: the ONNX model reader the evaluator uses (core/eval/onnx: OnnxModel -> OnnxRunner::load ->
// load_graph: protobuf parse, initializer decoding, external-data checks, op/topology checks, constant folding,
// graph I/O checks against genai_config.json). The input bytes are written as model.onnx into a private scratch
// export folder whose genai_config.json is fixed (1 layer, vocab 8); any input must load or throw mixq::Error.
// Tensors are capped at 1 GiB (set_max_tensor_bytes) so that a made-up huge shape is an error, not an OOM of
// libFuzzer's 4 GiB RSS limit.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/common/error.h"
#include "core/eval/onnx/onnx_model.h"

namespace fs = std::filesystem;

namespace {
fs::path g_dir;

void remove_dir() {
    std::error_code ec;
    fs::remove_all(g_dir, ec);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    mixq::eval::onnx::set_max_tensor_bytes(uint64_t(1) << 30);
    g_dir = fs::temp_directory_path() / ("mixq-fuzz-onnx-" + std::to_string(getpid()));
    fs::create_directories(g_dir);
    std::ofstream(g_dir / "genai_config.json")
        << R"({"model": {"vocab_size": 8, "context_length": 16, "eos_token_id": 2,
  "decoder": {"filename": "model.onnx", "num_hidden_layers": 1, "num_key_value_heads": 1, "head_size": 2}}})";
    std::atexit(remove_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    {
        std::ofstream out(g_dir / "model.onnx", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) std::abort();  // the scratch folder must be writable
    }
    try {
        mixq::eval::onnx::OnnxModel m(g_dir);
        if (m.vocab_size() != 8 || !m.runner().has_input("input_ids") || !m.runner().has_output("logits")) std::abort();
        (void)m.start(4);
    } catch (const mixq::Error&) {
    }
    return 0;
}
