// SPDX-License-Identifier: MIT
// ResultsPanel: evaluation results — a table with one row per evaluated model (baseline first) and each metric's
// delta to the baseline, plus charts of accuracy vs decode tokens/s and accuracy vs average bits.
#pragma once
#include <QString>
#include <QWidget>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

class QCustomPlot;
class QTableWidget;
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
};

class ResultsPanel : public QWidget {
    Q_OBJECT
public:
    enum Column { Model, AvgBits, Size, Mmlu, PiqaAcc, PiqaNorm, Ppl, Prefill, Decode, ColumnCount };
    static constexpr int kValueRole = Qt::UserRole;      ///< the cell's number (NaN when absent)
    static constexpr int kDeltaRole = Qt::UserRole + 1;  ///< number minus the baseline's (NaN when absent)

    explicit ResultsPanel(QWidget* parent = nullptr);

    /// A row from one side ("target" or "baseline") of a mixq.eval/1 report.
    static ResultRow row_from_report(const nlohmann::json& report, const char* side, const QString& label,
                                     const QString& kind, double avg_bits, double size_bytes);
    /// Adds (baseline: replaces) a row; rows are kept baseline first and every delta is recomputed.
    void addRow(const ResultRow& row);
    void clear();
    int rowCount() const;
    const std::vector<ResultRow>& rows() const { return m_rows; }

    QTableWidget* table() const { return m_table; }
    QCustomPlot* speedPlot() const { return m_speedPlot; }
    QCustomPlot* bitsPlot() const { return m_bitsPlot; }
    QTabWidget* chartTabs() const { return m_tabs; }

signals:
    void rowsChanged();

private:
    void refresh();
    void refreshPlots();

    std::vector<ResultRow> m_rows;
    QTableWidget* m_table = nullptr;
    QTabWidget* m_tabs = nullptr;
    QCustomPlot* m_speedPlot = nullptr;
    QCustomPlot* m_bitsPlot = nullptr;
};

}  // namespace mixq::ui
