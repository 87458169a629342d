// SPDX-License-Identifier: MIT
// genai_config.json for an exported decoder, with exactly the keys the onnxruntime-genai model builder writes
// (its config parser rejects unknown keys): model ids and sizes from config.json, overridden by
// generation_config.json where present, and the 14 search fields.
#pragma once
#include <string>

#include "core/io/model.h"

namespace mixq::exporter {

/// The JSON text (4-space indent). Token ids and sampling values come from the model folder's config.json and
/// generation_config.json (which wins when it sets a value); absent values take the builder's defaults
/// (bos 1, pad = first eos, do_sample false, temperature 1.0, top_k 50, top_p 1.0, repetition_penalty 1.0).
/// `target` ("cpu", "cuda", "dml") sets the session's provider_options as the builder writes them: none for cpu,
/// {"cuda": {"enable_cuda_graph": "0"}}, {"dml": {"enable_graph_capture": "1"}}.
std::string make_genai_config(const io::Model& model, const std::string& onnx_filename = "model.onnx",
                              const std::string& target = "cpu");

}  // namespace mixq::exporter
