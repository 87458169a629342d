// SPDX-License-Identifier: MIT
// FrontierPlot: the planner's Pareto frontier (average bits vs predicted KLD, log y) as a staircase, the
// uniform plans (all int4-g32, all int4-g128, ...) as labelled reference points, and the current plan marked.
#pragma once
#include <QPointF>
#include <QString>
#include <QWidget>
#include <vector>

#include "core/plan/planner.h"
#include "ui/plan_controller.h"

class QCustomPlot;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QLabel;
class QMouseEvent;

namespace mixq::ui {

class FrontierPlot : public QWidget {
    Q_OBJECT
public:
    explicit FrontierPlot(QWidget* parent = nullptr);

    /// The frontier points (points with KLD 0, such as all-16-bit, cannot sit on a log axis and are left out).
    void setFrontier(const std::vector<plan::FrontierPoint>& points, bool kld_complete);
    void setReferences(const std::vector<ReferencePoint>& refs);
    /// The current plan's point and the target line (target NaN: no line).
    void setCurrent(double avg_bits, double kld, double target);
    void clear();
    /// Scores from the fast estimator only: the title says the frontier is provisional.
    void setProvisional(bool on);
    bool isProvisional() const { return m_provisional; }
    QString titleText() const;

    int frontierPointCount() const;
    int referenceCount() const;
    QString referenceLabel(int i) const;
    /// The marked point; null QPointF when none.
    QPointF currentPoint() const;
    QCustomPlot* plot() const { return m_plot; }

signals:
    /// A left click in the plot: the average bits of the frontier point nearest to it (in pixels).
    void pointPicked(double avg_bits);

private:
    void onMouseRelease(QMouseEvent* event);
    /// Axis ranges from the frontier and references only (fixed while the current plan moves).
    void rescale();
    void placeCurrentLabel();
    void updatePlaceholder();

    QLabel* m_title = nullptr;
    bool m_provisional = false;
    QCustomPlot* m_plot = nullptr;
    QCPGraph* m_frontier = nullptr;
    QCPGraph* m_refs = nullptr;
    QCPGraph* m_current = nullptr;
    QCPItemStraightLine* m_targetLine = nullptr;
    QCPItemText* m_placeholder = nullptr;
    QCPItemText* m_currentLabel = nullptr;
    std::vector<QCPItemText*> m_refLabels;
    bool m_hasCurrent = false;
    QPointF m_pressPos;
};

}  // namespace mixq::ui
