// SPDX-License-Identifier: MIT
// The ONNX checker for exported models: registers schemas for the ONNX Runtime ops the exporter emits (so the
// checker verifies every node instead of skipping unknown ones) and runs onnx::checker on a model file.
#pragma once
#include <filesystem>

namespace mixq::exporter {

/// Registers (once, thread-safe) checker schemas for SimplifiedLayerNormalization (domain ""), and for
/// SkipSimplifiedLayerNormalization, GroupQueryAttention, MatMulNBits and GatherBlockQuantized (com.microsoft,
/// version 1), with the inputs, outputs and attributes of ONNX Runtime's contrib schemas that the exporter uses.
void register_ort_schemas();

/// Runs onnx::checker::check_model on `model_onnx` (external data resolved next to it) after
/// register_ort_schemas(). Throws mixq::Error "<path>: ONNX checker: <reason and node context, on one line>".
void check_onnx_model(const std::filesystem::path& model_onnx);

}  // namespace mixq::exporter
