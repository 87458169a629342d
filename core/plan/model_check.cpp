// SPDX-License-Identifier: MIT
// Score-table / plan vs model consistency checks and the planner's model facts.
#include "core/plan/model_check.h"

#include <cmath>
#include <map>
#include <sstream>

#include "core/common/error.h"

namespace mixq::plan {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string o = "[";
    for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
    return o + "]";
}

// Tensor name -> shape of every unit member of the model.
std::map<std::string, std::vector<int64_t>> member_shapes(const io::Model& model) {
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto& u : model.layout().units)
        for (const auto& m : u.members) out[m.name] = {m.out_features, m.in_features};
    return out;
}

}  // namespace

void check_scores_for_model(const score::ScoreTable& table, const io::Model& model, const std::string& label) {
    const std::string hash = model.content_hash();
    if (table.model_hash != hash)
        fail(label, "scores are for model " + table.model_hash + " (" + table.model_path + "), but " +
                        model.dir().string() + " has hash " + hash + "; re-run mixq score for this model");
    std::map<std::string, const io::QuantUnit*> units;
    for (const auto& u : model.layout().units) units[u.name] = &u;
    // Every unit of the model must be scored: a plan from partial scores would claim a complete predicted KLD.
    std::map<std::string, bool> scored;
    for (const auto& su : table.units) scored[su.name] = true;
    size_t missing = 0;
    std::string first;
    for (const auto& u : model.layout().units)
        if (!scored.count(u.name) && missing++ == 0) first = u.name;
    if (missing > 0)
        fail(label, "unit '" + first + "' of " + model.dir().string() + " is not scored (" + std::to_string(missing) +
                        " of " + std::to_string(model.layout().units.size()) + " units missing); re-run mixq score");
    for (const auto& su : table.units) {
        auto it = units.find(su.name);
        if (it == units.end()) fail(label, "unit '" + su.name + "' is not a unit of " + model.dir().string());
        const auto& mu = *it->second;
        if (mu.members.size() != su.members.size())
            fail(label, "unit '" + su.name + "' has " + std::to_string(su.members.size()) + " members, the model " +
                            std::to_string(mu.members.size()));
        for (size_t i = 0; i < su.members.size(); ++i) {
            const std::vector<int64_t> shape{mu.members[i].out_features, mu.members[i].in_features};
            if (su.members[i] != mu.members[i].name || su.shapes[i] != shape)
                fail(label, "unit '" + su.name + "' member " + su.members[i] + " " + shape_str(su.shapes[i]) +
                                " does not match the model's " + mu.members[i].name + " " + shape_str(shape));
        }
    }
    // A plan's predicted KLD is a sum over units: scores whose sum leaves the range of a double predict nothing
    // (the planner's frontier would silently break on Inf).
    double total = 0, largest = -1;
    std::string where;
    for (const auto& su : table.units)
        for (const auto& c : su.candidates) {
            total += c.kld;
            if (c.kld > largest) {
                largest = c.kld;
                where = "unit '" + su.name + "' " + c.format.name();
            }
        }
    if (!std::isfinite(total)) {
        std::ostringstream msg;
        msg << "non-finite sum of the KLDs (largest: " << where << ", kld " << largest
            << "): not the scores of a usable model; re-run mixq score";
        fail(label, msg.str());
    }
}

PlannerOptions planner_options_for(const io::Model& model, const score::ScoreTable& table) {
    PlannerOptions o;
    int64_t planned = 0;
    for (const auto& u : table.units) planned += u.numel();
    o.non_planned_params = std::max<int64_t>(0, model.parameter_count() - planned);
    o.num_layers = model.config().num_layers;
    return o;
}

void check_plan_for_model(const Plan& plan, const io::Model& model, const std::string& label) {
    const std::string hash = model.content_hash();
    if (plan.model_hash != hash)
        fail(label, "plan is for model " + plan.model_hash + " (" + plan.model_path + "), but " +
                        model.dir().string() + " has hash " + hash);
    const auto shapes = member_shapes(model);
    for (const auto& u : plan.units)
        for (size_t i = 0; i < u.members.size(); ++i) {
            auto it = shapes.find(u.members[i]);
            if (it == shapes.end()) fail(label, "tensor '" + u.members[i] + "' is not a planned weight of the model");
            if (it->second != u.shapes[i])
                fail(label, "tensor '" + u.members[i] + "' has shape " + shape_str(u.shapes[i]) + " in the plan, " +
                                shape_str(it->second) + " in the model");
        }
}

}  // namespace mixq::plan
