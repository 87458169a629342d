// SPDX-License-Identifier: MIT
// ResultsPanel: evaluation results — a table with one row per evaluated model (baselines first), each accuracy with its
// n and standard error and its delta to the baseline measured on the same questions, plus charts of accuracy vs
// decode tokens/s and accuracy vs average bits (legends outside the data). Rows can be deleted and copied as CSV.
#pragma once
#include <QList>
#include <QString>
#include <QWidget>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

class QAction;
class QCustomPlot;
class QTableWidget;
class QTableWidgetItem;
class QTabWidget;

namespace mixq::ui {

struct ResultRow {
    static constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
    QString label;
    QString kind;  ///< "baseline", "export", "plan"
    double avg_bits = 0.0, size_bytes = 0.0;
    /// mmlu, piqa acc, piqa acc_norm, ppl, prefill tok/s, decode tok/s (NaN when not measured)
    double metrics[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    /// What measured the tokens/s ("ONNX Runtime 1.30.0, CPU, 2 threads", "MixQ CPU engine (fp32), 2 threads", ...):
    /// shown with the figures; speed deltas are drawn only between rows measured by the same runtime.
    QString speed_runtime;
    /// Per metric: how many items it was measured on (questions, PIQA items, perplexity tokens) and its standard
    /// error (sqrt(p(1-p)/(n-1)) for accuracies); NaN when not measured / not defined.
    double n[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    double err[6] = {kNone, kNone, kNone, kNone, kNone, kNone};
    /// The questions the row was measured on (tasks, data folders, limits; ui/eval_request.h). A row's deltas are to
    /// the baseline with the same key; none is drawn against a baseline measured on other questions.
    QString eval_key;
    QString eval_text;  ///< the same, readable ("MMLU 20 · PIQA 20")
    /// Measured KL(p_baseline || p_this) per token over the perplexity text, and the plan's predicted KLD (NaN when
    /// not measured / unknown); a measured KLD above kKldFlagRatio times the prediction is flagged.
    double measured_kld = kNone, predicted_kld = kNone;
    static constexpr double kKldFlagRatio = 1.5;
};

class ResultsPanel : public QWidget {
    Q_OBJECT
public:
    enum Column { Model, AvgBits, Size, Mmlu, PiqaAcc, PiqaNorm, Ppl, Prefill, Decode, Kld, ColumnCount };
    static constexpr int kValueRole = Qt::UserRole;      ///< the cell's number (NaN when absent)
    static constexpr int kDeltaRole = Qt::UserRole + 1;  ///< number minus the baseline's (NaN when absent)

    explicit ResultsPanel(QWidget* parent = nullptr);

    /// A row from one side ("target" or "baseline") of a mixq.eval/1 report.
    static ResultRow row_from_report(const nlohmann::json& report, const char* side, const QString& label,
                                     const QString& kind, double avg_bits, double size_bytes);
    /// Adds a row (a baseline replaces the baseline of the same eval_key); baselines are kept first and every delta
    /// is recomputed.
    void addRow(const ResultRow& row);
    void clear();
    /// Removes the given rows (table indices); rowsChanged follows, so the removal persists.
    void removeRows(QList<int> rows);
    /// The given rows (all when empty) as CSV with a header line; copySelection puts the selected rows on the
    /// clipboard.
    QString csv(QList<int> rows = {}) const;
    void copySelection() const;
    void deleteSelection();
    /// The baseline a row's deltas are taken from (same eval_key), or null.
    const ResultRow* baselineFor(const ResultRow& row) const;
    QTableWidgetItem* kldItem(const ResultRow& r) const;
    int rowCount() const;
    const std::vector<ResultRow>& rows() const { return m_rows; }

    QTableWidget* table() const { return m_table; }
    QCustomPlot* speedPlot() const { return m_speedPlot; }
    QCustomPlot* bitsPlot() const { return m_bitsPlot; }
    QTabWidget* chartTabs() const { return m_tabs; }

    QAction* copyAction() const { return m_copy; }
    QAction* deleteAction() const { return m_delete; }

signals:
    void rowsChanged();

private:
    QList<int> selectedRows() const;
    void refresh();
    void refreshPlots();

    std::vector<ResultRow> m_rows;
    QTableWidget* m_table = nullptr;
    QTabWidget* m_tabs = nullptr;
    QCustomPlot* m_speedPlot = nullptr;
    QCustomPlot* m_bitsPlot = nullptr;
    QAction* m_copy = nullptr;
    QAction* m_delete = nullptr;
};

}  // namespace mixq::ui
