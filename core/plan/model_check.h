// SPDX-License-Identifier: MIT
// Ties plans and score tables to the model they were made for: hash and unit-structure checks, and the model
// facts the planner needs (parameters outside the planned units, decoder depth).
#pragma once
#include <string>

#include "core/io/model.h"
#include "core/plan/plan.h"
#include "core/plan/planner.h"
#include "core/score/score_table.h"

namespace mixq::plan {

/// Throws "<label>: scores are for model <hash> (<path>), but <dir> has hash <hash>; re-run mixq score" when the
/// hashes differ, or "<label>: unit '<name>' ..." when a unit's members or shapes are not the model's.
void check_scores_for_model(const score::ScoreTable& table, const io::Model& model, const std::string& label);

/// PlannerOptions with non_planned_params (all model parameters outside the table's units) and num_layers.
PlannerOptions planner_options_for(const io::Model& model, const score::ScoreTable& table);

/// Throws when a plan was made for another model (hash) or names a tensor the model lacks or shapes differently.
void check_plan_for_model(const Plan& plan, const io::Model& model, const std::string& label);

}  // namespace mixq::plan
