// SPDX-License-Identifier: MIT
// plan.json (schema "mixq.plan/1"): writing (atomic) and reading with validation of every field.
//
// {"schema": "mixq.plan/1", "model": {"path", "hash"}, "source": "target"|"preset"|"import",
//  "target_bits": B|null, "preset": NAME|null, "scale_bits": 16, "average_bits", "total_bits", "planned_weights",
//  "predicted_kld", "predicted_kld_complete", "units_without_kld", "estimated_file_bytes", "non_planned_params",
//  "counts": {"int4", "int8", "float16"}, "pins": {unit: format}, "normalized_overrides",
//  "units": [{"name", "kind", "layer", "format", "bits", "block_size", "symmetric", "method", "storage_bits",
//             "bytes", "weights", "kld": x|null, "pinned", "members": [tensor...]}],
//  "tensors": {tensor: {"bits", "block_size", "symmetric", "method", "shape": [N, K], "unit"}}}
// Float tensors have bits 16, block_size 0, symmetric false, method "float"; quantized ones method "rtn" or
// "kquant". The exporter reads "tensors"; "units" carries the planner's view.
#pragma once
#include <filesystem>
#include <string>

#include "core/plan/plan.h"

namespace mixq::plan {

std::string plan_to_json(const Plan& plan);
/// Parses and validates (schema, formats, every unit member present in "tensors" with its unit's format, no
/// stray tensors, totals consistent with the tensors). Errors are one line: "<label>: <problem>".
Plan plan_from_json(const std::string& text, const std::string& label);
void save_plan(const Plan& plan, const std::filesystem::path& path);  ///< atomic write
Plan load_plan(const std::filesystem::path& path);

}  // namespace mixq::plan
