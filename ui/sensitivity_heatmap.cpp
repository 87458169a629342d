// SPDX-License-Identifier: MIT
// SensitivityHeatmap: QCustomPlot colour map, group outlines, plan labels, hover tooltips.
#include "ui/sensitivity_heatmap.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

#include "ui/heatmap_tooltip.h"

namespace mixq::ui {

namespace {
constexpr double kMinKld = 1e-10;  // log10 floor for a zero KLD
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const QColor kGroupColor(37, 99, 235);
const QColor kBlankColor(236, 239, 243);

QCPColorGradient sensitivity_gradient() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.00, QColor(255, 255, 204));
    g.setColorStopAt(0.25, QColor(254, 217, 118));
    g.setColorStopAt(0.50, QColor(253, 141, 60));
    g.setColorStopAt(0.75, QColor(227, 26, 28));
    g.setColorStopAt(1.00, QColor(128, 0, 38));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setNanHandling(QCPColorGradient::nhNanColor);
    g.setNanColor(kBlankColor);
    return g;
}
}  // namespace

SensitivityHeatmap::SensitivityHeatmap(QWidget* parent) : QWidget(parent) {
    setObjectName("sensitivityHeatmap");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->setSpacing(4);

    auto* bar = new QHBoxLayout();
    auto* title = new QLabel(tr("<b>Sensitivity</b> \u2014 log10 KLD when one unit is quantized to"), this);
    m_combo = new QComboBox(this);
    m_combo->setObjectName("candidateBox");
    m_combo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_combo->setEnabled(false);
    m_combo->setPlaceholderText(tr("(no scores)"));
    m_combo->setMinimumContentsLength(12);
    m_status = new QLabel(this);
    m_status->setObjectName("heatmapStatus");
    m_status->setStyleSheet("color: palette(mid);");
    // A long note ("exact: 3 of 25 units (others: fast estimate, provisional)") must not widen the window past the
    // screen: the label takes the room there is, right-aligned, the whole text in its tooltip.
    m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_status->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    bar->addWidget(title);
    bar->addWidget(m_combo);
    bar->addWidget(m_status, 1);
    layout->addLayout(bar);

    m_plot = new QCustomPlot(this);
    m_plot->setObjectName("heatmapPlot");
    m_plot->setMinimumSize(360, 200);
    m_plot->setMouseTracking(true);
    m_plot->setAttribute(Qt::WA_AlwaysShowToolTips);
    layout->addWidget(m_plot, 1);

    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setInterpolate(false);
    m_map->setTightBoundary(false);
    m_scale = new QCPColorScale(m_plot);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setType(QCPAxis::atRight);
    m_scale->setBarWidth(14);
    m_scale->axis()->setLabel("log10 KLD");
    m_map->setColorScale(m_scale);
    m_scale->setGradient(sensitivity_gradient());  // the scale hands its gradient to the map
    m_map->setGradient(sensitivity_gradient());
    auto* margins = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

    for (QCPAxis* ax : {m_plot->xAxis, m_plot->yAxis}) {
        ax->grid()->setVisible(false);
        ax->setSubTicks(false);
        ax->setTickLength(0, 0);
        ax->setTickPen(Qt::NoPen);
        ax->setTickLabelPadding(6);
        ax->setBasePen(Qt::NoPen);
    }
    m_plot->xAxis->setLabel(tr("tensor"));
    m_plot->yAxis->setLabel(tr("decoder layer"));
    m_plot->yAxis->setRangeReversed(true);

    connect(m_combo, &QComboBox::currentTextChanged, this, [this](const QString& name) {
        refreshValues();
        emit candidateChanged(name);
    });
    connect(m_plot, &QCustomPlot::mouseMove, this, &SensitivityHeatmap::onMouseMove);
    connect(m_plot, &QCustomPlot::mousePress, this, &SensitivityHeatmap::onMousePress);
    clear();
}

// ---------------------------------------------------------------- structure

void SensitivityHeatmap::clear() {
    m_hasModel = false;
    m_grid.reset(0);
    m_scores->clear();
    m_plan.clear();
    m_pinned.clear();
    m_note.clear();
    m_candidates.clear();
    updateCombo();
    rebuild();
}

void SensitivityHeatmap::setModelLayout(const io::ModelLayout& layout, int num_layers) {
    m_hasModel = true;
    m_grid.reset(num_layers);
    for (const auto& u : layout.units) m_grid.upsert(heatmap_unit(u));
    m_scores->clear();
    m_plan.clear();
    m_pinned.clear();
    m_note.clear();
    rebuild();
}

void SensitivityHeatmap::rebuild() {
    m_plot->clearItems();
    m_groups.clear();
    m_labels.clear();
    const int rows = m_grid.rows();
    const bool show = m_hasModel || !m_grid.units().empty();

    auto* xt = new QCPAxisTickerText;
    for (int c = 0; c < kHeatmapColumns; ++c) xt->addTick(c, heatmap_column_name(c));
    m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(xt));
    m_plot->xAxis->setRange(-0.5, kHeatmapColumns - 0.5);

    auto* yt = new QCPAxisTickerText;
    if (show) {
        const int step = std::max(1, m_grid.layers() / 24);
        for (int r = 0; r < m_grid.layers(); r += step) yt->addTick(r, QString::number(r));
        yt->addTick(m_grid.model_row(), tr("embed / lm_head"));
    }
    m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(yt));
    m_plot->yAxis->setRange(-0.5, std::max(rows, 1) - 0.5);

    m_map->setVisible(show);
    m_plot->xAxis->setVisible(show);
    m_plot->yAxis->setVisible(show);
    m_map->data()->setSize(kHeatmapColumns, std::max(rows, 2));
    m_map->data()->setRange(QCPRange(0, kHeatmapColumns - 1), QCPRange(0, std::max(rows, 2) - 1));
    m_map->data()->fill(kNaN);

    if (show) {
        // Cell labels (plan formats), created once per structure.
        m_labels.resize(static_cast<size_t>(rows) * kHeatmapColumns, nullptr);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < kHeatmapColumns; ++c) {
                auto* t = new QCPItemText(m_plot);
                t->position->setType(QCPItemPosition::ptPlotCoords);
                t->position->setCoords(c, r);
                t->setPositionAlignment(Qt::AlignCenter);
                QFont f = font();
                f.setBold(true);
                t->setFont(f);
                t->setText(QString());
                t->setSelectable(false);
                m_labels[static_cast<size_t>(r) * kHeatmapColumns + c] = t;
            }
        // White separators between cells, below the outlines and labels.
        auto separator = [this](double x0, double y0, double x1, double y1) {
            auto* line = new QCPItemLine(m_plot);
            line->start->setCoords(x0, y0);
            line->end->setCoords(x1, y1);
            line->setPen(QPen(Qt::white, 1.5));
            line->setSelectable(false);
        };
        for (int c = 1; c < kHeatmapColumns; ++c) separator(c - 0.5, -0.5, c - 0.5, rows - 0.5);
        for (int r = 1; r < rows; ++r) separator(-0.5, r - 0.5, kHeatmapColumns - 0.5, r - 0.5);
        // Group outlines around units that span several columns.
        const double inset = 0.06;
        for (const auto& u : m_grid.units()) {
            if (u.span() < 2) continue;
            const int r = m_grid.row_of(u);
            auto* rect = new QCPItemRect(m_plot);
            rect->topLeft->setType(QCPItemPosition::ptPlotCoords);
            rect->bottomRight->setType(QCPItemPosition::ptPlotCoords);
            rect->topLeft->setCoords(u.col_begin - 0.5 + inset, r - 0.5 + inset);
            rect->bottomRight->setCoords(u.col_end + 0.5 - inset, r + 0.5 - inset);
            rect->setPen(QPen(kGroupColor, rows > 16 ? 1.4 : 2.2));
            rect->setBrush(Qt::NoBrush);
            rect->setSelectable(false);
            m_groups[u.name] = rect;
        }
    }
    m_placeholder = new QCPItemText(m_plot);
    m_placeholder->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_placeholder->position->setCoords(0.5, 0.5);
    m_placeholder->setPositionAlignment(Qt::AlignCenter);
    m_placeholder->setTextAlignment(Qt::AlignCenter);
    m_placeholder->setColor(QColor(90, 98, 110));
    m_placeholder->setBrush(QBrush(QColor(255, 255, 255, 225)));
    m_placeholder->setPadding(QMargins(14, 10, 14, 10));
    m_placeholder->setSelectable(false);
    QFont pf = font();
    pf.setPointSizeF(pf.pointSizeF() * 1.15);
    m_placeholder->setFont(pf);
    refreshValues();
}

// ---------------------------------------------------------------- scores

void SensitivityHeatmap::setCandidates(const std::vector<quant::QuantFormat>& candidates, int scale_bits) {
    m_candidates = candidates;
    m_scaleBits = scale_bits;
    updateCombo();
}

void SensitivityHeatmap::setUnitScore(const score::UnitScore& unit) {
    if (m_candidates.empty() && !unit.candidates.empty()) {
        std::vector<quant::QuantFormat> fmts;
        for (const auto& c : unit.candidates) fmts.push_back(c.format);
        setCandidates(fmts, m_scaleBits);
    }
    m_scores->addUnit(unit);
    const HeatmapUnit* known = m_grid.find(unit.name);
    if (!known) {
        m_grid.upsert(heatmap_unit(unit.name, unit.kind, unit.layer, unit.members, unit.shapes));
        rebuild();  // new unit: new outline, maybe new rows
        return;
    }
    writeUnitCells(*known);
    updateColorRange();
    updateLabels();
    updatePlaceholder();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void SensitivityHeatmap::setScoreTable(const score::ScoreTable& table) {
    setScoreTable(std::make_shared<const score::ScoreTable>(table));
}

void SensitivityHeatmap::setScoreTable(std::shared_ptr<const score::ScoreTable> shared) {
    m_scores->setTable(std::move(shared));
    const score::ScoreTable& table = *m_scores->table();
    m_scaleBits = table.scale_bits;
    setCandidates(table.candidates, table.scale_bits);
    bool structural = false;
    for (const auto& u : table.units) {
        if (!m_grid.find(u.name)) {
            m_grid.upsert(heatmap_unit(u.name, u.kind, u.layer, u.members, u.shapes));
            structural = true;
        }
    }
    if (structural)
        rebuild();
    else
        refreshValues();
}

void SensitivityHeatmap::clearScores() {
    m_scores->clear();
    refreshValues();
}

const score::UnitScore* SensitivityHeatmap::unitScore(const std::string& unit) const { return m_scores->find(unit); }

int SensitivityHeatmap::scoredUnitCount() const { return m_scores->scoredUnitCount(); }

void SensitivityHeatmap::setScoreSource(LiveScores* scores) {
    m_scores = scores ? scores : &m_ownScores;
    refreshValues();
}

const score::CandidateScore* SensitivityHeatmap::candidateScore(const std::string& unit,
                                                                const std::string& format) const {
    const score::UnitScore* u = unitScore(unit);
    if (!u) return nullptr;
    for (const auto& c : u->candidates)
        if (c.format.name() == format) return &c;
    return nullptr;
}

double SensitivityHeatmap::unitValue(const std::string& unit) const {
    const auto* c = candidateScore(unit, currentCandidate().toStdString());
    if (!c) return kNaN;
    return std::log10(std::max(c->kld, kMinKld));
}

void SensitivityHeatmap::writeUnitCells(const HeatmapUnit& u) {
    const int r = m_grid.row_of(u);
    const double v = unitValue(u.name);
    for (int c = u.col_begin; c <= u.col_end; ++c) m_map->data()->setCell(c, r, v);
}

void SensitivityHeatmap::refreshValues() {
    m_map->data()->fill(kNaN);
    for (const auto& u : m_grid.units()) writeUnitCells(u);
    updateColorRange();
    updateLabels();
    updatePlaceholder();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void SensitivityHeatmap::updateColorRange() {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& u : m_grid.units()) {
        const double v = unitValue(u.name);
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (!std::isfinite(lo)) {
        lo = -4;
        hi = 0;
    } else if (hi - lo < 1e-9) {
        lo -= 0.5;
        hi += 0.5;
    }
    m_map->setDataRange(QCPRange(lo, hi));
}

void SensitivityHeatmap::updateLabels() {
    const QCPRange range = m_map->dataRange();
    QCPColorGradient gradient = m_map->gradient();
    for (int r = 0; r < m_grid.rows(); ++r)
        for (int c = 0; c < kHeatmapColumns; ++c) {
            const size_t i = static_cast<size_t>(r) * kHeatmapColumns + c;
            if (i >= m_labels.size() || !m_labels[i]) continue;
            const HeatmapUnit* u = m_grid.unit_at(r, c);
            QString text;
            bool pinned = false;
            if (u) {
                auto it = m_plan.find(u->name);
                if (it != m_plan.end()) text = plan_label(it->second);
                pinned = !text.isEmpty() && m_pinned.count(u->name) > 0;
            }
            m_labels[i]->setText(text);
            const double v = m_map->data()->cell(c, r);
            QColor bg = kBlankColor;
            if (std::isfinite(v)) bg = QColor::fromRgba(gradient.color(v, range));
            const double lum = 0.299 * bg.redF() + 0.587 * bg.greenF() + 0.114 * bg.blueF();
            const QColor ink = lum < 0.55 ? Qt::white : QColor(30, 30, 30);
            m_labels[i]->setColor(ink);
            m_labels[i]->setPen(pinned ? QPen(ink, 1.6) : QPen(Qt::NoPen));
            m_labels[i]->setPadding(pinned ? QMargins(5, 1, 5, 1) : QMargins(0, 0, 0, 0));
        }
}

void SensitivityHeatmap::updatePlaceholder() {
    if (!m_placeholder) return;
    QString text;
    if (!m_hasModel && m_grid.units().empty())
        text = tr("Drop a Hugging Face model folder here\nor use File \u203a Open Model Folder\u2026");
    else if (scoredUnitCount() == 0)
        text = tr("No sensitivity scores yet\nscoring starts when a model opens\n(File \u203a Load Scores\u2026 reads a "
                  "scores.json)");
    m_placeholder->setText(text);
    m_placeholder->setVisible(!text.isEmpty());
    m_scale->setVisible(scoredUnitCount() > 0);
    if (!m_note.isEmpty())
        m_status->setText(m_note);
    else
        m_status->setText(m_grid.units().empty()
                              ? QString()
                              : tr("%1 of %2 units scored").arg(scoredUnitCount()).arg(m_grid.units().size()));
    m_status->setToolTip(m_status->text());
}

void SensitivityHeatmap::updateCombo() {
    const QString keep = m_combo->currentText();
    QSignalBlocker block(m_combo);
    m_combo->clear();
    for (const auto& f : m_candidates) m_combo->addItem(QString::fromStdString(f.name()));
    const int idx = m_combo->findText(keep);
    m_combo->setCurrentIndex(idx >= 0 ? idx : (m_combo->count() > 0 ? 0 : -1));
    m_combo->setEnabled(m_combo->count() > 0);
    block.unblock();
    refreshValues();
    if (m_combo->currentText() != keep) emit candidateChanged(m_combo->currentText());
}

// ---------------------------------------------------------------- plan and selection

void SensitivityHeatmap::setPlanFormats(const std::map<std::string, std::string>& unit_formats) {
    m_plan = unit_formats;
    updateLabels();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void SensitivityHeatmap::setPinnedUnits(const std::set<std::string>& units) {
    if (units == m_pinned) return;
    m_pinned = units;
    updateLabels();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool SensitivityHeatmap::cellPinned(int row, int col) const {
    const size_t i = static_cast<size_t>(row) * kHeatmapColumns + col;
    if (row < 0 || col < 0 || col >= kHeatmapColumns || i >= m_labels.size() || !m_labels[i]) return false;
    return m_labels[i]->pen().style() != Qt::NoPen;
}

void SensitivityHeatmap::setStatusNote(const QString& note) {
    m_note = note;
    updatePlaceholder();
}

QString SensitivityHeatmap::statusText() const { return m_status->text(); }

QString SensitivityHeatmap::currentCandidate() const { return m_combo->currentText(); }

bool SensitivityHeatmap::setCurrentCandidate(const QString& format_name) {
    const int idx = m_combo->findText(format_name);
    if (idx < 0) return false;
    m_combo->setCurrentIndex(idx);
    return true;
}

// ---------------------------------------------------------------- inspection

double SensitivityHeatmap::cellValue(int row, int col) const {
    if (row < 0 || row >= m_grid.rows() || col < 0 || col >= kHeatmapColumns || !m_map->visible()) return kNaN;
    return m_map->data()->cell(col, row);
}

QString SensitivityHeatmap::cellLabel(int row, int col) const {
    const size_t i = static_cast<size_t>(row) * kHeatmapColumns + col;
    if (row < 0 || col < 0 || col >= kHeatmapColumns || i >= m_labels.size() || !m_labels[i]) return {};
    return m_labels[i]->text();
}

QString SensitivityHeatmap::cellText(int row, int col) const { return cellLabel(row, col).section(QChar(0x00b7), 0, 0); }

QRectF SensitivityHeatmap::groupRect(const QString& unit) const {
    auto it = m_groups.find(unit.toStdString());
    if (it == m_groups.end()) return {};
    const QPointF tl = it->second->topLeft->coords();
    const QPointF br = it->second->bottomRight->coords();
    return QRectF(tl, br);
}

double SensitivityHeatmap::colorRangeLower() const { return m_map->dataRange().lower; }
double SensitivityHeatmap::colorRangeUpper() const { return m_map->dataRange().upper; }

QString SensitivityHeatmap::cellToolTip(int row, int col) const {
    const HeatmapUnit* u = m_grid.unit_at(row, col);
    if (!u) return {};
    auto plan = m_plan.find(u->name);
    return heatmap_tooltip(*u, col, unitScore(u->name), currentCandidate().toStdString(),
                           plan == m_plan.end() ? std::string() : plan->second, m_scaleBits,
                           m_pinned.count(u->name) > 0);
}

void SensitivityHeatmap::onMouseMove(QMouseEvent* event) {
    const QPointF pos = event->position();
    if (!m_plot->axisRect()->rect().contains(pos.toPoint())) {
        QToolTip::hideText();
        return;
    }
    const int col = static_cast<int>(std::lround(m_plot->xAxis->pixelToCoord(pos.x())));
    const int row = static_cast<int>(std::lround(m_plot->yAxis->pixelToCoord(pos.y())));
    const QString tip = cellToolTip(row, col);
    if (tip.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), tip, m_plot);
}

QString SensitivityHeatmap::unitAt(const QPointF& pos) const {
    if (!m_plot->axisRect()->rect().contains(pos.toPoint())) return {};
    const int col = static_cast<int>(std::lround(m_plot->xAxis->pixelToCoord(pos.x())));
    const int row = static_cast<int>(std::lround(m_plot->yAxis->pixelToCoord(pos.y())));
    const HeatmapUnit* u = m_grid.unit_at(row, col);
    return u ? QString::fromStdString(u->name) : QString();
}

QPoint SensitivityHeatmap::cellCenter(int row, int col) const {
    return QPointF(m_plot->xAxis->coordToPixel(col), m_plot->yAxis->coordToPixel(row)).toPoint();
}

void SensitivityHeatmap::onMousePress(QMouseEvent* event) {
    const QString unit = unitAt(event->position());
    if (unit.isEmpty()) return;
    if (event->button() == Qt::LeftButton) emit unitClicked(unit);
    else if (event->button() == Qt::RightButton) emit unitMenuRequested(unit, event->globalPosition().toPoint());
}

}  // namespace mixq::ui
