// SPDX-License-Identifier: MIT
// SensitivityHeatmap: per-unit sensitivity (log10 KLD of the candidate chosen in a combo box) as a QCPColorMap,
// one row per decoder layer plus an embeddings / lm_head row, columns q k v o gate up down. Units spanning
// several columns (q/k/v, gate/up, embeddings) are outlined as groups; each cell can carry the plan's format.
// Scores may arrive one unit at a time; cells without a score stay blank.
#pragma once
#include <QPoint>
#include <QRectF>
#include <QString>
#include <QWidget>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/io/model_layout.h"
#include "core/quant/quant_format.h"
#include "core/score/score_table.h"
#include "ui/live_scores.h"
#include "ui/heatmap_grid.h"

class QComboBox;
class QLabel;
class QMouseEvent;
class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPItemText;

namespace mixq::ui {

class SensitivityHeatmap : public QWidget {
    Q_OBJECT
public:
    explicit SensitivityHeatmap(QWidget* parent = nullptr);

    // --- structure ---
    /// A blank grid with every unit of the layout (rows: num_layers + 1). Clears scores and plan.
    void setModelLayout(const io::ModelLayout& layout, int num_layers);
    /// No model: empty plot with a hint.
    void clear();

    // --- scores (incremental) ---
    /// Where the scores live: the session's LiveScores (MainWindow sets it); without one the heatmap keeps its own.
    void setScoreSource(LiveScores* scores);
    LiveScores* scoreSource() const { return m_scores; }
    /// Declares the candidate formats offered in the combo box (scale_bits: bits of one stored scale).
    void setCandidates(const std::vector<quant::QuantFormat>& candidates, int scale_bits = 16);
    /// Adds or replaces one unit's scores in the score source; units not in the layout are placed by kind and layer.
    void setUnitScore(const score::UnitScore& unit);
    /// setCandidates + every unit's scores; the shared table is read, not copied (the session's).
    void setScoreTable(std::shared_ptr<const score::ScoreTable> table);
    void setScoreTable(const score::ScoreTable& table);
    void clearScores();
    int scoredUnitCount() const;
    /// The table shown (units streamed since then are kept beside it), or null.
    std::shared_ptr<const score::ScoreTable> scoreTable() const { return m_scores->table(); }

    // --- plan ---
    /// unit name -> format name ("int4-g32", "int8-g128", "fp16"); each cell of a unit shows its bits.
    void setPlanFormats(const std::map<std::string, std::string>& unit_formats);
    const std::map<std::string, std::string>& planFormats() const { return m_plan; }
    /// Units pinned to a format by the user: their labels get a frame, their tooltips say "pinned".
    void setPinnedUnits(const std::set<std::string>& units);
    const std::set<std::string>& pinnedUnits() const { return m_pinned; }
    /// Whether the label drawn in a cell is framed as pinned.
    bool cellPinned(int row, int col) const;

    /// Text beside the candidate box (e.g. "fast estimate: 3 of 25 units"); "" restores the default count.
    void setStatusNote(const QString& note);
    QString statusText() const;

    // --- candidate selection ---
    QString currentCandidate() const;
    bool setCurrentCandidate(const QString& format_name);

    // --- inspection (tooltips, tests) ---
    int rowCount() const { return m_grid.rows(); }
    int columnCount() const { return kHeatmapColumns; }
    const HeatmapGrid& grid() const { return m_grid; }
    /// The colour-map value drawn in a cell (log10 KLD), NaN when blank.
    double cellValue(int row, int col) const;
    /// The plan's bits drawn in a cell ("4", "8", "16"), "" when none.
    QString cellText(int row, int col) const;
    /// The whole label drawn in a cell: bits and group size ("4·g32", "8·g128", "16").
    QString cellLabel(int row, int col) const;
    /// The drawn group outline of a multi-column unit, in cell coordinates (x: column, y: row); null if none.
    QRectF groupRect(const QString& unit) const;
    int groupCount() const { return static_cast<int>(m_groups.size()); }
    QString cellToolTip(int row, int col) const;
    double colorRangeLower() const;
    double colorRangeUpper() const;
    QCustomPlot* plot() const { return m_plot; }
    QComboBox* candidateBox() const { return m_combo; }
    QCPColorScale* colorScale() const { return m_scale; }

    /// The unit under a point of the plot widget (pixels), "" when none; the centre of a cell in those pixels.
    QString unitAt(const QPointF& pos) const;
    QPoint cellCenter(int row, int col) const;

signals:
    void candidateChanged(const QString& format_name);
    /// A left click on a unit's cell (select it elsewhere, e.g. in the groups tree).
    void unitClicked(const QString& unit);
    /// A right click on a unit's cell: `global` is where its pin menu goes.
    void unitMenuRequested(const QString& unit, const QPoint& global);

private:
    void rebuild();
    void refreshValues();
    void writeUnitCells(const HeatmapUnit& u);
    void updateColorRange();
    void updateLabels();
    void updatePlaceholder();
    void updateCombo();
    void onMouseMove(QMouseEvent* event);
    void onMousePress(QMouseEvent* event);
    double unitValue(const std::string& unit) const;
    const score::UnitScore* unitScore(const std::string& unit) const;
    const score::CandidateScore* candidateScore(const std::string& unit, const std::string& format) const;

    HeatmapGrid m_grid;
    bool m_hasModel = false;
    LiveScores m_ownScores;               ///< used until setScoreSource
    LiveScores* m_scores = &m_ownScores;  ///< table + streamed units (the session's in the app)
    std::vector<quant::QuantFormat> m_candidates;
    int m_scaleBits = 16;
    std::map<std::string, std::string> m_plan;
    std::set<std::string> m_pinned;
    QString m_note;

    QComboBox* m_combo = nullptr;
    QLabel* m_status = nullptr;
    QCustomPlot* m_plot = nullptr;
    QCPColorMap* m_map = nullptr;
    QCPColorScale* m_scale = nullptr;
    QCPItemText* m_placeholder = nullptr;
    std::map<std::string, QCPItemRect*> m_groups;
    std::vector<QCPItemText*> m_labels;  ///< row * columns + col
};

}  // namespace mixq::ui
