// SPDX-License-Identifier: MIT
// ExportController: File > Export ONNX… (dialog, export job, optional evaluation job) and "Evaluate current plan"
// (eval::run_evaluation with the plan, as `mixq eval MODEL --plan`); results go to the Results dock (ResultsPanel).
#pragma once
#include <QObject>

#include "ui/results_store.h"
#include <QPointer>
#include <QString>
#include <nlohmann/json.hpp>

#include "core/export/exporter.h"
#include "ui/export_dialog.h"

class QAction;
class QDockWidget;

namespace mixq::ui {

class MainWindow;
class ResultsPanel;

class ExportController : public QObject {
    Q_OBJECT
public:
    /// Adds its actions to the window's File menu, a button below the budget panel and the Results dock.
    explicit ExportController(MainWindow* window);

    /// Opens the export dialog (window-modal, non-blocking); accepting it starts the export.
    ExportDialog* showExportDialog();
    /// Queues the export job (and the evaluation job when `eval.enabled`).
    void startExport(const QString& dir, const exporter::ExportOptions& options, const ExportEvalSettings& eval);
    /// Queues an evaluation of an export folder (with its baseline) on the given tasks.
    void startEvaluation(const QString& dir, const ExportEvalSettings& eval, double avg_bits, double size_bytes);
    /// Evaluates the plan on screen (eval::run_evaluation with the plan: the engine with its fake-quant weights,
    /// beside the dense model as baseline) on the tasks, limits and data folders of `eval` (the export dialog's
    /// remembered ones when it names no data folder), so its row and its baseline answer the same questions. Refused
    /// while scoring runs (the action is disabled then).
    void evaluatePlan(ExportEvalSettings eval = {});

    ResultsPanel* results() const { return m_results; }
    ResultsStore& resultsStore() { return m_store; }
    QDockWidget* resultsDock() const { return m_dock; }
    ExportDialog* dialog() const { return m_dialog; }
    QAction* exportAction() const { return m_exportAction; }
    QAction* evaluatePlanAction() const { return m_evalPlanAction; }

signals:
    void exportFinished(const QString& dir);
    void evaluationFinished();

private:
    void updateActions();
    void addReportRows(const nlohmann::json& report, const QString& label, const QString& kind, double avg_bits,
                       double size_bytes, double base_bytes, const QString& key, const QString& text);
    void restoreResults();
    void persistResults();

    MainWindow* m_window;
    ResultsPanel* m_results = nullptr;
    ResultsStore m_store;
    bool m_restoring = false;
    QDockWidget* m_dock = nullptr;
    QPointer<ExportDialog> m_dialog;
    QAction* m_exportAction = nullptr;
    QAction* m_evalPlanAction = nullptr;
};

}  // namespace mixq::ui
