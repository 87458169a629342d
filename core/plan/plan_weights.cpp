// SPDX-License-Identifier: MIT
// Fake-quant overrides from a plan, and plans built from a per-unit format choice.
#include "core/plan/plan_weights.h"

#include <memory>

#include "core/engine/act_quant.h"
#include "core/plan/model_check.h"
#include "core/quant/quantizer.h"

namespace mixq::plan {

std::shared_ptr<const engine::Rotation> plan_rotation(std::shared_ptr<const io::Model> model, const Plan& plan,
                                                      const std::string& label) {
    if (plan.rotation == "none") return nullptr;
    const std::string prefix = "hadamard:seed=";
    const std::string digits = plan.rotation.rfind(prefix, 0) == 0 ? plan.rotation.substr(prefix.size()) : "";
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos)
        fail(label, "rotation '" + plan.rotation + "' is not none or hadamard:seed=N");
    return std::make_shared<engine::Rotation>(std::move(model), std::stoull(digits));
}

engine::Transformer plan_engine(std::shared_ptr<const io::Model> model, const Plan& plan, const std::string& label) {
    engine::EngineOptions eo;
    eo.rotation = plan_rotation(model, plan, label);
    eo.weights_as_stored = true;  // 16-bit units the plan keeps are computed from the file's bytes in place
    return engine::Transformer(std::move(model), eo);
}

void apply_plan_fake_quant(engine::Transformer& tf, const io::Model& model, const Plan& plan, int accuracy_level,
                           const std::string& label) {
    check_plan_for_model(plan, model, label);
    const std::string engine_rotation =
        tf.rotation() ? "hadamard:seed=" + std::to_string(tf.rotation()->seed()) : std::string("none");
    if (engine_rotation != plan.rotation)
        fail(label, "was made from scores with rotation " + plan.rotation + ", but the engine runs with rotation " +
                         engine_rotation);
    const bool int8_activations = accuracy_level == engine::kInt8ActivationAccuracyLevel;
    for (const auto& unit : model.layout().units) {
        const PlannedUnit* pu = plan.find(unit.name);
        const bool quantized = pu && !pu->format.is_float();
        for (const auto& m : unit.members) {
            tf.set_activation_block(m.name, quantized && int8_activations ? pu->format.block_size : 0);
            if (!quantized) {
                tf.clear_override(m.name);
                continue;
            }
            const engine::RowMatrix w = tf.load_effective(m.name);
            auto q = std::make_shared<engine::RowMatrix>(
                quant::fake_quantize(w, pu->format, model.weight_dtype(), nullptr));
            tf.set_override(m.name, std::move(q));
        }
    }
}

Plan make_model_plan(const io::Model& model, const std::function<quant::QuantFormat(const io::QuantUnit&)>& choose) {
    Plan p;
    p.model_path = model.dir().string();
    p.model_hash = model.content_hash();
    p.source = PlanSource::Import;
    int64_t planned = 0;
    for (const auto& u : model.layout().units) {
        PlannedUnit pu;
        pu.name = u.name;
        pu.kind = u.kind;
        pu.layer = u.layer;
        for (const auto& m : u.members) {
            pu.members.push_back(m.name);
            pu.shapes.push_back({m.out_features, m.in_features});
        }
        pu.format = choose(u);
        pu.has_kld = false;
        planned += u.numel();
        p.units.push_back(std::move(pu));
    }
    p.non_planned_params = std::max<int64_t>(0, model.parameter_count() - planned);
    finalize_plan(p);
    return p;
}

}  // namespace mixq::plan
