// SPDX-License-Identifier: MIT
// StudioSession: the one owner of what the studio is working on — the open model, its score table (one shared,
// immutable copy: the plan controller's planner is built on this same object, the heatmap and main window read it),
// the units streamed in by a running scorer (LiveScores), the plan controller and the evaluation results
// (ResultsModel). Views read the session instead of keeping their own copies, so they cannot disagree.
#pragma once
#include <QObject>
#include <memory>

#include "core/io/model.h"
#include "core/score/score_table.h"
#include "ui/live_scores.h"

namespace mixq::ui {

class PlanController;
class ResultsModel;

class StudioSession : public QObject {
    Q_OBJECT
public:
    explicit StudioSession(QObject* parent = nullptr);
    ~StudioSession() override;

    std::shared_ptr<const io::Model> model() const { return m_model; }
    /// The current score table (null before scores exist or while a new scoring starts).
    std::shared_ptr<const score::ScoreTable> scores() const { return m_scores; }
    /// What the heatmap shows: the same table plus the units a running scorer has streamed in since.
    LiveScores& liveScores() { return m_live; }
    const LiveScores& liveScores() const { return m_live; }
    PlanController* plans() const { return m_plans; }
    /// The evaluation results of the open model (the Results dock and the frontier's measured points read them).
    ResultsModel* results() const { return m_results; }

    /// A new model: its scores (and the plan made from them) go.
    void setModel(std::shared_ptr<const io::Model> model);
    void setScores(std::shared_ptr<const score::ScoreTable> table);
    void clearScores();

signals:
    void modelChanged();
    void scoresChanged();

private:
    std::shared_ptr<const io::Model> m_model;
    std::shared_ptr<const score::ScoreTable> m_scores;
    LiveScores m_live;
    PlanController* m_plans = nullptr;
    ResultsModel* m_results = nullptr;
};

}  // namespace mixq::ui
