// SPDX-License-Identifier: MIT
// ResultsPanel: evaluation results — a table with one row per evaluated model (baselines first), each accuracy with its
// n and standard error and its delta to the baseline measured on the same questions, plus charts of accuracy vs
// decode tokens/s and accuracy vs average bits (legends outside the data). Rows can be deleted and copied as CSV.
// It views a ResultsModel (the StudioSession's), so the frontier's measured points read the same rows.
#pragma once
#include <QList>
#include <QPointer>
#include <QString>
#include <QWidget>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "ui/results_model.h"

class QAction;
class QCustomPlot;
class QTableWidget;
class QTableWidgetItem;
class QTabWidget;

namespace mixq::ui {


class ResultsPanel : public QWidget {
    Q_OBJECT
public:
    enum Column { Model, AvgBits, Size, Mmlu, PiqaAcc, PiqaNorm, Ppl, Prefill, Decode, Kld, ColumnCount };
    static constexpr int kValueRole = Qt::UserRole;      ///< the cell's number (NaN when absent)
    static constexpr int kDeltaRole = Qt::UserRole + 1;  ///< number minus the baseline's (NaN when absent)

    /// A view of `model` (the session's results); without one the panel keeps its own rows.
    explicit ResultsPanel(ResultsModel* model = nullptr, QWidget* parent = nullptr);
    ResultsModel* model() const { return m_model; }

    /// A row from one side ("target" or "baseline") of a mixq.eval/1 report.
    static ResultRow row_from_report(const nlohmann::json& report, const char* side, const QString& label,
                                     const QString& kind, double avg_bits, double size_bytes);
    /// Adds a row to the model (a baseline replaces the baseline of the same eval_key); baselines are kept first and
    /// every delta is recomputed.
    void addRow(const ResultRow& row) { m_model->add(row); }
    void clear() { m_model->clear(); }
    /// Removes the given rows (table indices) from the model; rowsChanged follows, so the removal persists.
    void removeRows(QList<int> rows) { m_model->remove(std::move(rows)); }
    /// The given rows (all when empty) as CSV with a header line; copySelection puts the selected rows on the
    /// clipboard.
    QString csv(QList<int> rows = {}) const;
    void copySelection() const;
    void deleteSelection();
    /// The baseline a row's deltas are taken from (same eval_key), or null.
    const ResultRow* baselineFor(const ResultRow& row) const { return m_model->baselineFor(row); }
    QTableWidgetItem* kldItem(const ResultRow& r) const;
    int rowCount() const;
    const std::vector<ResultRow>& rows() const { return m_model->rows(); }

    QTableWidget* table() const { return m_table; }
    QCustomPlot* speedPlot() const { return m_speedPlot; }
    QCustomPlot* bitsPlot() const { return m_bitsPlot; }
    QTabWidget* chartTabs() const { return m_tabs; }

    QAction* copyAction() const { return m_copy; }
    QAction* deleteAction() const { return m_delete; }

signals:
    /// The model's rows changed (added, removed, restored); the table and charts are already redrawn.
    void rowsChanged();

private:
    QList<int> selectedRows() const;
    void refresh();
    void refreshPlots();

    ResultsModel* m_model = nullptr;
    QTableWidget* m_table = nullptr;
    QTabWidget* m_tabs = nullptr;
    QCustomPlot* m_speedPlot = nullptr;
    QCustomPlot* m_bitsPlot = nullptr;
    QAction* m_copy = nullptr;
    QAction* m_delete = nullptr;
};

}  // namespace mixq::ui
