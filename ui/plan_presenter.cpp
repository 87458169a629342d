// SPDX-License-Identifier: MIT
// PlanPresenter: PlanController signals -> heatmap, grouping tree, frontier plot; tree pin requests -> controller.
#include "ui/plan_presenter.h"

#include <QAction>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "ui/frontier_plot.h"
#include "ui/grouping_tree.h"
#include "ui/log_panel.h"
#include "ui/plan_controller.h"
#include "ui/sensitivity_heatmap.h"

namespace mixq::ui {

PlanPresenter::PlanPresenter(PlanController* plans, SensitivityHeatmap* heatmap, GroupingTree* tree,
                             FrontierPlot* frontier, QAction* save_action, LogPanel* log, QObject* parent)
    : QObject(parent), m_plans(plans), m_heatmap(heatmap), m_tree(tree), m_frontier(frontier), m_save(save_action),
      m_log(log) {
    connect(plans, &PlanController::plannerChanged, this, &PlanPresenter::onPlannerChanged);
    connect(plans, &PlanController::planChanged, this, &PlanPresenter::onPlanChanged);
    connect(tree, &GroupingTree::pinRequested, this, [this](const QString& unit, const QString& format) {
        m_log->appendLine(QString("Pinned %1 to %2").arg(unit, format));
        m_plans->setPin(unit.toStdString(), format.toStdString());
    });
    connect(tree, &GroupingTree::unpinRequested, this, [this](const QString& unit) {
        m_log->appendLine(QString("Cleared the pin on %1").arg(unit));
        m_plans->clearPin(unit.toStdString());
    });
    connect(tree, &GroupingTree::clearPinsRequested, this, [this] {
        m_log->appendLine("Cleared all pins");
        m_plans->clearPins();
    });
    onPlannerChanged();
    onPlanChanged();
}

void PlanPresenter::onPlannerChanged() {
    auto planner = m_plans->planner();
    const auto table = m_plans->table();
    m_frontier->setProvisional(table && table->mode == "fast");
    if (!planner) {
        m_frontier->clear();
        return;
    }
    m_frontier->setFrontier(planner->frontier(), planner->frontier_kld_complete());
    m_frontier->setReferences(m_plans->references());
}

void PlanPresenter::onPlanChanged() {
    m_save->setEnabled(m_plans->hasPlan());
    if (!m_plans->hasPlan()) {
        m_heatmap->setPlanFormats({});
        m_heatmap->setPinnedUnits({});
        m_tree->setPlan(nullptr);
        m_frontier->setCurrent(std::nan(""), std::nan(""), std::nan(""));
        return;
    }
    const plan::Plan& p = m_plans->plan();
    std::map<std::string, std::string> formats;
    std::set<std::string> pinned;
    for (const auto& u : p.units) {
        formats[u.name] = u.format.name();
        if (u.pinned) pinned.insert(u.name);
    }
    m_heatmap->setPlanFormats(formats);
    m_heatmap->setPinnedUnits(pinned);
    m_tree->setPlan(&p);
    const bool target = m_plans->mode() == PlanController::Mode::Target;
    // An unknown total (unscored formats) is passed as NaN: the plot then marks the plan's bits without a KLD.
    m_frontier->setCurrent(p.avg_bits, p.kld_complete() ? p.predicted_kld : std::nan(""),
                           target ? m_plans->target() : std::nan(""));
}

}  // namespace mixq::ui
