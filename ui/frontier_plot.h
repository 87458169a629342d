// SPDX-License-Identifier: MIT
// FrontierPlot: the planner's Pareto frontier (average bits vs predicted KLD, log y) as a staircase, the
// uniform plans (all int4-g32, all int4-g128, ...) as labelled reference points, the current plan marked, and the
// measured KLD of every evaluated plan or export (joined to its prediction; red past 1.5x the prediction).
#pragma once
#include <QPointF>
#include <QRectF>
#include <QString>
#include <QWidget>
#include <vector>

#include "core/plan/planner.h"
#include "ui/plan_controller.h"
#include "ui/results_model.h"

class QCustomPlot;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCPAbstractItem;
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
    /// Clears the frontier, references and current plan (the measured points belong to the model and stay).
    void clear();
    /// The measured KLD of each evaluated plan / export row (baselines and rows without a measurement are skipped),
    /// drawn at its average bits and joined by a dashed line to its predicted KLD; rows whose measurement exceeds
    /// ResultRow::kKldFlagRatio times the prediction are drawn in red as a separate series.
    void setMeasured(const std::vector<ResultRow>& rows);
    int measuredPointCount() const;
    int flaggedPointCount() const;
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
    /// Pixel rectangles of the labels as last placed (current plan first, then the uniform plans'), for tests.
    std::vector<QRectF> labelRects() const;

signals:
    /// A left click in the plot: the average bits of the frontier point nearest to it (in pixels).
    void pointPicked(double avg_bits);

private:
    void onMouseRelease(QMouseEvent* event);
    /// Axis ranges from the frontier and references only (fixed while the current plan moves).
    void rescale();
    /// Places the current plan's and the uniform plans' labels clear of each other and inside the axis rect.
    void placeCurrentLabel();
    void updatePlaceholder();

    QLabel* m_title = nullptr;
    bool m_provisional = false;
    QCustomPlot* m_plot = nullptr;
    QCPGraph* m_frontier = nullptr;
    QCPGraph* m_refs = nullptr;
    QCPGraph* m_current = nullptr;
    QCPGraph* m_measured = nullptr;
    QCPGraph* m_flagged = nullptr;
    std::vector<QCPAbstractItem*> m_measuredLinks;
    QCPItemStraightLine* m_targetLine = nullptr;
    QCPItemText* m_placeholder = nullptr;
    QCPItemText* m_currentLabel = nullptr;
    std::vector<QCPItemText*> m_refLabels;
    std::vector<QRectF> m_labelRects;
    bool m_hasCurrent = false;
    QPointF m_pressPos;
};

}  // namespace mixq::ui
