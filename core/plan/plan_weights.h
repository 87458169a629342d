// SPDX-License-Identifier: MIT
// A plan's weights for the CPU engine: fake-quant overrides for every planned unit (exactly the values the ONNX
// exporter stores), and a helper that builds a plan for a model from a per-unit format choice.
#pragma once
#include <functional>

#include "core/engine/transformer.h"
#include "core/io/model.h"
#include "core/plan/plan.h"

namespace mixq::plan {

/// Checks that `plan` belongs to `model` (hash, tensor names, shapes) and that `tf` runs in the plan's rotation
/// (an error naming both otherwise: the formats were chosen for that basis), then sets on `tf` a fake-quant override
/// for every member of every quantized unit: quant::fake_quantize of the engine's weight (the file's, in the
/// engine's basis) with the unit's format, scale dtype = the model's weight dtype, no importance weighting —
/// the same quantizer calls the exporter makes, so the engine computes the exported model. Units kept in 16-bit,
/// and model units the plan does not list, keep the file's weights (any earlier override of them is cleared).
/// accuracy_level 4 also sets int8 activation blocks (the unit's block size) on every quantized unit, as an
/// export at that accuracy level runs in ONNX Runtime; other levels compute with fp32 activations.
/// `label` names the plan in errors (its file path where there is one).
void apply_plan_fake_quant(engine::Transformer& tf, const io::Model& model, const Plan& plan, int accuracy_level = 0,
                           const std::string& label = "plan");

/// The rotation a plan's scores were computed with, for the engine (null for "none"). Throws mixq::Error naming
/// `label` for a rotation string it does not know ("none" or "hadamard:seed=N").
std::shared_ptr<const engine::Rotation> plan_rotation(std::shared_ptr<const io::Model> model, const Plan& plan,
                                                      const std::string& label = "plan");
/// An engine for evaluating `plan` on `model`: full mode, in the plan's rotation, 16-bit weights the plan keeps used
/// in place from the file (EngineOptions::weights_as_stored).
engine::Transformer plan_engine(std::shared_ptr<const io::Model> model, const Plan& plan, const std::string& label = "plan");

/// A plan for `model` (every layout unit, forward order, hash and path set, totals finalized) with the format
/// `choose` returns for each unit. Source Import.
Plan make_model_plan(const io::Model& model, const std::function<quant::QuantFormat(const io::QuantUnit&)>& choose);

}  // namespace mixq::plan
