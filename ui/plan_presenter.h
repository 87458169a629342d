// SPDX-License-Identifier: MIT
// PlanPresenter: shows the PlanController's state in the views: the frontier and reference points in the
// frontier plot, and the current plan as heatmap labels (pinned units framed), grouping-tree formats and the
// plot's current point; forwards the tree's pin requests to the controller.
#pragma once
#include <QObject>

class QAction;

namespace mixq::ui {

class FrontierPlot;
class GroupingTree;
class LogPanel;
class PlanController;
class SensitivityHeatmap;

class PlanPresenter : public QObject {
    Q_OBJECT
public:
    /// `save_action` (File > Save Plan...) is enabled while there is a plan; `log` gets one line per pin change.
    PlanPresenter(PlanController* plans, SensitivityHeatmap* heatmap, GroupingTree* tree, FrontierPlot* frontier,
                  QAction* save_action, LogPanel* log, QObject* parent = nullptr);

private:
    void onPlannerChanged();
    void onPlanChanged();

    PlanController* m_plans;
    SensitivityHeatmap* m_heatmap;
    GroupingTree* m_tree;
    FrontierPlot* m_frontier;
    QAction* m_save;
    LogPanel* m_log;
};

}  // namespace mixq::ui
