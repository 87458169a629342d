// SPDX-License-Identifier: MIT
// FrontierPlot: QCustomPlot staircase of the frontier, reference diamonds with labels, current-plan marker.
#include "ui/frontier_plot.h"

#include <QLabel>
#include <QMouseEvent>
#include <QRegularExpression>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace mixq::ui {

namespace {
const QColor kFrontier(37, 99, 235);
const QColor kReference(100, 116, 139);
const QColor kCurrent(234, 88, 12);
const QColor kMeasured(22, 163, 74);
const QColor kFlagged(200, 0, 0);

/// A series kept out of the legend while it is empty (a legend entry for points that are not there misleads).
void show_in_legend(QCPGraph* g) {
    if (g->data()->isEmpty())
        g->removeFromLegend();
    else
        g->addToLegend();
}
}  // namespace

FrontierPlot::FrontierPlot(QWidget* parent) : QWidget(parent) {
    setObjectName("frontierPlot");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 2, 6, 6);
    layout->setSpacing(2);
    m_title = new QLabel(this);
    m_title->setObjectName("frontierTitle");
    m_title->setWordWrap(true);
    layout->addWidget(m_title);
    setProvisional(false);
    m_plot = new QCustomPlot(this);
    m_plot->setObjectName("frontierCustomPlot");
    m_plot->setMinimumSize(320, 150);  // with the heatmap and the bottom docks, fits a 1024x700 window
    layout->addWidget(m_plot, 1);

    m_plot->xAxis->setLabel(tr("average bits per weight"));
    m_plot->yAxis->setLabel(tr("KLD (nats)"));  // short: a low plot cuts a long vertical title
    m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
    QSharedPointer<QCPAxisTickerLog> log_ticker(new QCPAxisTickerLog);
    m_plot->yAxis->setTicker(log_ticker);
    m_plot->yAxis->setNumberFormat("eb");
    m_plot->yAxis->setNumberPrecision(0);
    m_plot->xAxis->grid()->setSubGridVisible(false);
    m_plot->yAxis->grid()->setSubGridVisible(true);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->axisRect()->setRangeDrag(Qt::Horizontal);
    m_plot->axisRect()->setRangeZoom(Qt::Horizontal);

    m_frontier = m_plot->addGraph();
    m_frontier->setName(tr("optimal plans"));
    m_frontier->setLineStyle(QCPGraph::lsStepLeft);
    m_frontier->setPen(QPen(kFrontier, 1.8));
    m_frontier->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, kFrontier, kFrontier, 4));

    m_refs = m_plot->addGraph();
    m_refs->setName(tr("uniform plans"));
    m_refs->setLineStyle(QCPGraph::lsNone);
    m_refs->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, kReference.darker(120), kReference, 11));

    m_current = m_plot->addGraph();
    m_current->setName(tr("current plan"));
    m_current->setLineStyle(QCPGraph::lsNone);
    m_current->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::white, 2), kCurrent, 14));

    m_measured = m_plot->addGraph();
    m_measured->setName(tr("measured KLD"));
    m_measured->setLineStyle(QCPGraph::lsNone);
    m_measured->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCrossCircle, QPen(kMeasured, 2), Qt::white, 11));
    m_flagged = m_plot->addGraph();
    m_flagged->setName(tr("measured > %1\u00d7 predicted").arg(ResultRow::kKldFlagRatio));
    m_flagged->setLineStyle(QCPGraph::lsNone);
    m_flagged->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCrossCircle, QPen(kFlagged, 2), Qt::white, 11));
    show_in_legend(m_measured);
    show_in_legend(m_flagged);

    m_targetLine = new QCPItemStraightLine(m_plot);
    m_targetLine->setPen(QPen(kCurrent, 1.2, Qt::DashLine));
    m_targetLine->setVisible(false);
    m_targetLine->setSelectable(false);

    m_currentLabel = new QCPItemText(m_plot);
    m_currentLabel->position->setType(QCPItemPosition::ptPlotCoords);
    m_currentLabel->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    m_currentLabel->setColor(kCurrent.darker(115));
    m_currentLabel->setPadding(QMargins(10, 0, 0, 6));
    QFont bold = font();
    bold.setBold(true);
    m_currentLabel->setFont(bold);
    m_currentLabel->setVisible(false);
    m_currentLabel->setSelectable(false);

    m_placeholder = new QCPItemText(m_plot);
    m_placeholder->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_placeholder->position->setCoords(0.5, 0.5);
    m_placeholder->setPositionAlignment(Qt::AlignCenter);
    m_placeholder->setColor(QColor(90, 98, 110));
    m_placeholder->setText(tr("The frontier appears once the model is scored"));
    m_placeholder->setSelectable(false);

    // The legend has its own column right of the axis rect: it never covers the curve or a reference label, and
    // the plot keeps its height in a short window.
    m_plot->legend->setVisible(true);
    m_plot->legend->setBorderPen(Qt::NoPen);
    m_plot->legend->setBrush(Qt::NoBrush);
    m_plot->legend->setFillOrder(QCPLegend::foRowsFirst);
    auto* legendColumn = new QCPLayoutGrid;
    m_plot->plotLayout()->addElement(0, 1, legendColumn);
    legendColumn->setMargins(QMargins(2, 4, 4, 4));
    legendColumn->addElement(0, 0, m_plot->legend);
    legendColumn->addElement(1, 0, new QCPLayoutElement(m_plot));  // pushes the legend to the top
    legendColumn->setRowStretchFactor(1, 1000);
    m_plot->plotLayout()->setColumnStretchFactor(1, 0.001);
    connect(m_plot, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) { m_pressPos = e->position(); });
    // The label's side depends on pixels: decided again once each replot has laid out the axis rect.
    connect(m_plot, &QCustomPlot::afterLayout, this, &FrontierPlot::placeCurrentLabel);
    connect(m_plot, &QCustomPlot::mouseRelease, this, &FrontierPlot::onMouseRelease);
    clear();
}

void FrontierPlot::clear() {
    m_frontier->data()->clear();
    m_refs->data()->clear();
    m_current->data()->clear();
    for (auto* t : m_refLabels) m_plot->removeItem(t);
    m_refLabels.clear();
    m_hasCurrent = false;
    m_targetLine->setVisible(false);
    m_currentLabel->setVisible(false);
    rescale();
}

void FrontierPlot::setMeasured(const std::vector<ResultRow>& rows) {
    for (auto* item : m_measuredLinks) m_plot->removeItem(item);
    m_measuredLinks.clear();
    QVector<double> x, y, fx, fy;
    for (const ResultRow& r : rows) {
        if (r.kind == "baseline" || !std::isfinite(r.avg_bits) || !(r.measured_kld > 0) || !std::isfinite(r.measured_kld))
            continue;
        (r.kldFlagged() ? fx : x) << r.avg_bits;
        (r.kldFlagged() ? fy : y) << r.measured_kld;
        if (!(r.predicted_kld > 0) || !std::isfinite(r.predicted_kld)) continue;
        auto* link = new QCPItemLine(m_plot);
        link->start->setCoords(r.avg_bits, r.predicted_kld);
        link->end->setCoords(r.avg_bits, r.measured_kld);
        link->setPen(QPen(r.kldFlagged() ? kFlagged : kMeasured, 1.0, Qt::DashLine));
        link->setSelectable(false);
        m_measuredLinks.push_back(link);
    }
    m_measured->setData(x, y);
    m_flagged->setData(fx, fy);
    show_in_legend(m_measured);
    show_in_legend(m_flagged);
    rescale();
}

int FrontierPlot::measuredPointCount() const { return m_measured->data()->size() + m_flagged->data()->size(); }
int FrontierPlot::flaggedPointCount() const { return m_flagged->data()->size(); }

void FrontierPlot::setProvisional(bool on) {
    m_provisional = on;
    m_title->setText(on ? tr("<b>Bit budget frontier</b> \u2014 <span style='color:#b45309'><b>provisional</b>: fast-estimate "
                             "scores, which can rank units differently from the exact scores that replace them</span>")
                        : tr("<b>Bit budget frontier</b> \u2014 predicted KLD of the best plan at each average"));
}

QString FrontierPlot::titleText() const { return m_title->text(); }

void FrontierPlot::setFrontier(const std::vector<plan::FrontierPoint>& points, bool kld_complete) {
    QVector<double> x, y;
    for (const auto& p : points)
        if (p.predicted_kld > 0 && std::isfinite(p.predicted_kld)) {
            x << p.avg_bits;
            y << p.predicted_kld;
        }
    m_frontier->setData(x, y, true);
    // Dots only while they stay apart; a long frontier reads better as a plain staircase.
    m_frontier->setScatterStyle(x.size() <= 80 ? QCPScatterStyle(QCPScatterStyle::ssDisc, kFrontier, kFrontier, 5)
                                               : QCPScatterStyle(QCPScatterStyle::ssNone));
    m_frontier->setName(kld_complete ? tr("optimal plans") : tr("optimal plans\n(KLD partial: pins)"));
    rescale();
}

void FrontierPlot::setReferences(const std::vector<ReferencePoint>& refs) {
    for (auto* t : m_refLabels) m_plot->removeItem(t);
    m_refLabels.clear();
    QVector<double> x, y;
    // Labels alternate above and below their diamonds so neighbours (int4-g32 / int4-g128) do not collide.
    int i = 0;
    std::vector<ReferencePoint> sorted = refs;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.avg_bits < b.avg_bits; });
    for (const auto& r : sorted) {
        if (!(r.kld > 0)) continue;
        x << r.avg_bits;
        y << r.kld;
        auto* t = new QCPItemText(m_plot);
        t->position->setType(QCPItemPosition::ptPlotCoords);
        t->position->setCoords(r.avg_bits, r.kld);
        const bool above = i % 2 == 0;
        // The leftmost label starts at its point (centred, it would be cut by the axis).
        t->setPositionAlignment((i++ == 0 ? Qt::AlignLeft : Qt::AlignHCenter) | (above ? Qt::AlignBottom : Qt::AlignTop));
        t->setPadding(above ? QMargins(0, 0, 0, 9) : QMargins(0, 9, 0, 0));
        t->setText(tr("all %1").arg(r.label));
        t->setProperty("fullText", t->text());
        t->setColor(kReference.darker(150));
        t->setSelectable(false);
        m_refLabels.push_back(t);
    }
    m_refs->setData(x, y);
    rescale();
}

void FrontierPlot::setCurrent(double avg_bits, double kld, double target) {
    m_hasCurrent = std::isfinite(avg_bits);
    m_current->data()->clear();
    const bool known = std::isfinite(kld);
    // A plan whose KLD is unknown gets no point (never one at 0): its label sits at the top of the plot.
    const double shown_kld = !known ? m_plot->yAxis->range().upper
                             : kld > 0 ? kld
                                       : std::max(m_plot->yAxis->range().lower, 1e-12);
    if (m_hasCurrent && known) m_current->addData(avg_bits, shown_kld);
    m_targetLine->setVisible(std::isfinite(target));
    if (std::isfinite(target)) {
        m_targetLine->point1->setCoords(target, 1.0);
        m_targetLine->point2->setCoords(target, 10.0);
    }
    m_currentLabel->setVisible(m_hasCurrent);
    if (m_hasCurrent) {
        m_currentLabel->position->setCoords(avg_bits, shown_kld);
        m_currentLabel->setText(known ? tr("%1 bits, KLD %2").arg(avg_bits, 0, 'f', 3).arg(kld, 0, 'g', 3)
                                      : tr("%1 bits, KLD unknown (unscored formats)").arg(avg_bits, 0, 'f', 3));
    }
    placeCurrentLabel();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

namespace {

/// Where QCPItemText draws `t` when anchored at `at` with this alignment and padding (the padding is inside).
QRectF text_rect(const QCPItemText* t, QPointF at, Qt::Alignment align, const QMargins& pad) {
    const QSize text = QFontMetrics(t->font()).boundingRect(QRect(), 0, t->text()).size();
    const double w = text.width() + pad.left() + pad.right(), h = text.height() + pad.top() + pad.bottom();
    const double x = align & Qt::AlignLeft ? at.x() : align & Qt::AlignRight ? at.x() - w : at.x() - w / 2;
    const double y = align & Qt::AlignTop ? at.y() : align & Qt::AlignBottom ? at.y() - h : at.y() - h / 2;
    return QRectF(x, y, w, h);
}

struct Placement {
    Qt::Alignment align;
    QMargins pad;
};

double overlap(const QRectF& a, const QRectF& b) {
    const QRectF i = a.intersected(b);
    return i.isEmpty() ? 0.0 : i.width() * i.height();
}

}  // namespace

void FrontierPlot::placeCurrentLabel() {
    // Labels (the current plan's first, then the uniform plans' from left to right) take the first of a few places
    // around their point that stays inside the axis rect and clear of the labels placed before them, preferring
    // places that do not cover a marker. A uniform plan's label that finds no free place is shortened ("all " goes:
    // the legend says they are uniform plans), then left out; the current plan's label is always shown.
    const QRectF area = m_plot->axisRect()->rect();
    std::vector<QRectF> labels, markers;
    for (QCPGraph* g : {m_refs, m_current, m_measured, m_flagged})
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
            const QPointF p(m_plot->xAxis->coordToPixel(it->key), m_plot->yAxis->coordToPixel(it->value));
            markers.emplace_back(p.x() - 6, p.y() - 6, 12, 12);
        }
    // Returns whether `t` found a place that is inside the plot and covers no label.
    auto place = [&](QCPItemText* t, const std::vector<Placement>& options, bool force) {
        const QPointF at = t->position->pixelPosition();
        double best = std::numeric_limits<double>::infinity();
        bool free = false;
        Placement chosen = options.front();
        QRectF chosen_rect;
        for (const Placement& o : options) {
            const QRectF r = text_rect(t, at, o.align, o.pad);
            double hard = r.width() * r.height() - overlap(r, area);  // outside the plot
            for (const QRectF& q : labels) hard += overlap(r, q);
            double soft = 0.0;
            for (const QRectF& q : markers) soft += overlap(r, q);
            const double cost = hard * 1000.0 + soft;
            if (cost < best) {
                best = cost;
                free = hard == 0.0;
                chosen = o;
                chosen_rect = r;
            }
            if (cost == 0.0) break;
        }
        if (!free && !force) return false;
        t->setPositionAlignment(chosen.align);
        t->setPadding(chosen.pad);
        t->setVisible(true);
        labels.push_back(chosen_rect);
        return true;
    };
    const int g = 9;  // gap between a point and its label
    const std::vector<Placement> around = {
        {Qt::AlignHCenter | Qt::AlignBottom, QMargins(0, 0, 0, g)}, {Qt::AlignHCenter | Qt::AlignTop, QMargins(0, g, 0, 0)},
        {Qt::AlignLeft | Qt::AlignBottom, QMargins(g, 0, 0, g)},    {Qt::AlignLeft | Qt::AlignTop, QMargins(g, g, 0, 0)},
        {Qt::AlignRight | Qt::AlignBottom, QMargins(0, 0, g, g)},   {Qt::AlignRight | Qt::AlignTop, QMargins(0, g, g, 0)},
        {Qt::AlignLeft | Qt::AlignVCenter, QMargins(g + 2, 0, 0, 0)}, {Qt::AlignRight | Qt::AlignVCenter, QMargins(0, 0, g + 2, 0)}};
    if (m_hasCurrent) {
        // Off the curve, which falls from top left to bottom right: below right of the point in the left half,
        // above left of it in the right half, then any other free place.
        const bool right = m_currentLabel->position->pixelPosition().x() > area.center().x();
        std::vector<Placement> options = {right ? Placement{Qt::AlignRight | Qt::AlignBottom, QMargins(0, 0, 10, 6)}
                                                : Placement{Qt::AlignLeft | Qt::AlignTop, QMargins(10, 6, 0, 0)},
                                          right ? Placement{Qt::AlignRight | Qt::AlignTop, QMargins(0, 6, 10, 0)}
                                                : Placement{Qt::AlignLeft | Qt::AlignBottom, QMargins(10, 0, 0, 6)}};
        options.insert(options.end(), around.begin(), around.end());
        place(m_currentLabel, options, true);
    }
    for (QCPItemText* t : m_refLabels) {
        const QString full = t->property("fullText").toString();
        t->setText(full);
        if (place(t, around, false)) continue;
        t->setText(QString(full).remove(QRegularExpression("^all ")));
        if (place(t, around, false)) continue;
        t->setVisible(false);
    }
    m_labelRects = labels;
}

std::vector<QRectF> FrontierPlot::labelRects() const { return m_labelRects; }

void FrontierPlot::onMouseRelease(QMouseEvent* event) {
    // A click, not the end of a drag (the x axis pans with the mouse).
    if (event->button() != Qt::LeftButton || m_frontier->data()->isEmpty()) return;
    const QPointF pos = event->position();
    if ((pos - m_pressPos).manhattanLength() > 4) return;
    if (!m_plot->axisRect()->rect().contains(pos.toPoint())) return;
    double best = std::numeric_limits<double>::infinity(), bits = 0.0;
    for (auto it = m_frontier->data()->constBegin(); it != m_frontier->data()->constEnd(); ++it) {
        const double dx = m_plot->xAxis->coordToPixel(it->key) - pos.x(), dy = m_plot->yAxis->coordToPixel(it->value) - pos.y();
        const double d = dx * dx + dy * dy;
        if (d < best) {
            best = d;
            bits = it->key;
        }
    }
    emit pointPicked(bits);
}

void FrontierPlot::rescale() {
    // Fixed per scores table: x from the cheapest plan to 16 bits (every budget the slider reaches), y over the
    // frontier's and references' KLDs with headroom for their labels. The current plan moves inside it.
    double x0 = std::numeric_limits<double>::infinity();
    double y0 = x0, y1 = -x0;
    auto each = [](QCPGraph* g, auto&& fn) {
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) fn(it->key, it->value);
    };
    for (QCPGraph* g : {m_frontier, m_refs, m_measured, m_flagged})
        each(g, [&](double k, double v) {
            x0 = std::min(x0, k);
            if (!(v > 0)) return;
            y0 = std::min(y0, v);
            y1 = std::max(y1, v);
        });
    const bool any = !m_frontier->data()->isEmpty() || !m_refs->data()->isEmpty();
    if (!any) {
        m_plot->xAxis->setRange(2, 16);
        m_plot->yAxis->setRange(1e-4, 1);
    } else {
        if (!std::isfinite(y0)) y0 = y1 = 1e-3;
        m_plot->xAxis->setRange(std::max(0.0, x0 - 0.3), 16.3);
        m_plot->yAxis->setRange(y0 / 2.5, y1 * 30.0);  // headroom: labels above the top points stay inside
    }
    m_plot->legend->setVisible(any);
    updatePlaceholder();
    placeCurrentLabel();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void FrontierPlot::updatePlaceholder() { m_placeholder->setVisible(m_frontier->data()->isEmpty()); }

int FrontierPlot::frontierPointCount() const { return m_frontier->data()->size(); }
int FrontierPlot::referenceCount() const { return m_refs->data()->size(); }
QString FrontierPlot::referenceLabel(int i) const {
    return i >= 0 && i < static_cast<int>(m_refLabels.size()) ? m_refLabels[static_cast<size_t>(i)]->property("fullText").toString() : QString();
}

QPointF FrontierPlot::currentPoint() const {
    if (!m_hasCurrent || m_current->data()->isEmpty()) return {};
    return QPointF(m_current->data()->begin()->key, m_current->data()->begin()->value);
}

}  // namespace mixq::ui
