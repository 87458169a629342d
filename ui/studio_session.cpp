// SPDX-License-Identifier: MIT
// StudioSession: model, score table, plan controller and evaluation results of the open model.
#include "ui/studio_session.h"

#include "ui/plan_controller.h"
#include "ui/results_model.h"

namespace mixq::ui {

StudioSession::StudioSession(QObject* parent)
    : QObject(parent), m_plans(new PlanController(this)), m_results(new ResultsModel(this)) {
    setObjectName("studioSession");
}

StudioSession::~StudioSession() {
    delete m_plans;  // joins a running planner build before the table it reads goes
    m_plans = nullptr;
}

void StudioSession::setModel(std::shared_ptr<const io::Model> model) {
    m_model = std::move(model);
    m_scores.reset();
    m_live.clear();
    emit modelChanged();
    emit scoresChanged();
}

void StudioSession::setScores(std::shared_ptr<const score::ScoreTable> table) {
    m_scores = std::move(table);
    m_live.setTable(m_scores);
    emit scoresChanged();
}

void StudioSession::clearScores() {
    m_scores.reset();
    m_live.clear();
    emit scoresChanged();
}

}  // namespace mixq::ui
