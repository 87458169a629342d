// SPDX-License-Identifier: MIT
// ExportController: wires the export dialog, the export / evaluation jobs and the results dock into MainWindow.
#include "ui/export_controller.h"

#include <QAction>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QStatusBar>
#include <QTabWidget>
#include <filesystem>

#include "core/common/error.h"
#include "core/eval/evaluator.h"
#include "core/io/data_dir.h"
#include "core/io/model.h"
#include "ui/eval_request.h"
#include "ui/job_runner.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/log_panel.h"
#include "ui/results_panel.h"
#include "ui/scoring_controller.h"
#include "ui/studio_session.h"

#include "qcustomplot.h"

namespace mixq::ui {
namespace fs = std::filesystem;
namespace {

/// The export dialog's read-only plan line: unit counts per width with their block sizes / methods, and the
/// basis the weights are written in.
QString plan_formats(const plan::Plan& p) {
    QStringList int4, int8;
    for (const auto& u : p.units) {
        if (u.format.is_float()) continue;
        QStringList& list = u.format.bits == 4 ? int4 : int8;
        const QString s = QString("g%1 %2").arg(u.format.block_size).arg(u.format.method == quant::Method::RTN ? "rtn" : "kquant");
        if (!list.contains(s)) list << s;
    }
    QStringList parts;
    if (p.int4_units) parts << QObject::tr("%1 int4 (%2)").arg(p.int4_units).arg(int4.join(", "));
    if (p.int8_units) parts << QObject::tr("%1 int8 (%2)").arg(p.int8_units).arg(int8.join(", "));
    if (p.float_units) parts << QObject::tr("%1 16-bit").arg(p.float_units);
    QString out = parts.join(" \u00b7 ");
    out += p.rotation == "none" ? QObject::tr("; weights unrotated")
                                : QObject::tr("; weights written Hadamard-rotated as scored (%1)").arg(QString::fromStdString(p.rotation));
    return out;
}

double folder_bytes(const fs::path& dir) {
    double total = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".safetensors") total += static_cast<double>(e.file_size());
    return total;
}

}  // namespace

ExportController::ExportController(MainWindow* window) : QObject(window), m_window(window) {
    setObjectName("exportController");
    m_results = new ResultsPanel(window->session()->results());
    m_dock = new QDockWidget(tr("Results"), window);
    m_dock->setObjectName("resultsDock");
    m_dock->setWidget(m_results);
    window->addDockWidget(Qt::BottomDockWidgetArea, m_dock);
    if (window->logDock()) window->tabifyDockWidget(window->logDock(), m_dock);

    m_exportAction = new QAction(tr("&Export ONNX\u2026"), this);
    m_exportAction->setObjectName("actionExportOnnx");
    connect(m_exportAction, &QAction::triggered, this, [this] { showExportDialog(); });
    m_evalPlanAction = new QAction(tr("E&valuate Current Plan"), this);
    m_evalPlanAction->setObjectName("actionEvaluatePlan");
    connect(m_evalPlanAction, &QAction::triggered, this, [this] { evaluatePlan(); });
    for (QAction* a : window->menuBar()->actions()) {
        QMenu* m = a->menu();
        if (!m || m->objectName() == "menuRecent" || !a->text().contains("File")) continue;
        QAction* before = nullptr;
        for (QAction* x : m->actions())
            if (x->objectName() == "actionQuit") before = x;
        m->insertAction(before, m_exportAction);
        m->insertAction(before, m_evalPlanAction);
        m->insertSeparator(before);
        break;
    }
    // Every dock is in View, so a closed Results dock can be brought back.
    for (QAction* a : window->menuBar()->actions()) {
        if (!a->menu() || !a->text().contains("View")) continue;
        a->menu()->addAction(m_dock->toggleViewAction());
        break;
    }
    auto* button = new QPushButton(tr("Evaluate current plan"));
    button->setObjectName("evaluatePlanButton");
    connect(button, &QPushButton::clicked, m_evalPlanAction, &QAction::trigger);
    connect(m_evalPlanAction, &QAction::changed, button, [this, button] {
        button->setEnabled(m_evalPlanAction->isEnabled());
        button->setToolTip(m_evalPlanAction->toolTip());
    });
    window->addSidePanel(button);
    connect(window->plans(), &PlanController::planChanged, this, &ExportController::updateActions);
    // Evaluating while scoring runs would measure a plan the finished scores are about to replace.
    connect(window->scoring(), &ScoringController::scoringStarted, this, &ExportController::updateActions);
    connect(window->scoring(), &ScoringController::scoringFinished, this, &ExportController::updateActions);
    connect(window->scoring(), &ScoringController::scoringCancelled, this, &ExportController::updateActions);
    connect(window, &MainWindow::modelLoaded, this, &ExportController::restoreResults);
    connect(m_results, &ResultsPanel::rowsChanged, this, &ExportController::persistResults);
    updateActions();
}

void ExportController::restoreResults() {
    const auto model = m_window->model();
    if (!model) return;
    m_restoring = true;
    QString note;
    const auto rows = m_store.load(model->content_hash(), &note);
    m_results->model()->setRows(rows);
    m_restoring = false;
    if (!note.isEmpty()) m_window->logPanel()->appendLine(note);
    else if (!rows.empty())
        m_window->logPanel()->appendLine(tr("Results: %1 earlier evaluation rows restored from %2")
                                             .arg(rows.size())
                                             .arg(m_store.pathFor(model->content_hash())));
}

void ExportController::persistResults() {
    const auto model = m_window->model();
    if (m_restoring || !model) return;
    try {
        m_store.save(model->content_hash(), m_results->rows());
    } catch (const std::exception& e) {
        m_window->logPanel()->appendLine(tr("Results not saved: %1").arg(QString::fromUtf8(e.what())));
    }
}

void ExportController::updateActions() {
    const bool ok = m_window->plans()->hasPlan() && m_window->model();
    const bool scoring = m_window->scoring()->isScoring();
    m_exportAction->setEnabled(ok);
    m_evalPlanAction->setEnabled(ok && !scoring);
    m_evalPlanAction->setToolTip(
        scoring ? tr("Available when scoring finishes: the plan on screen is provisional until then")
                : tr("MMLU / PIQA of the plan on screen (the engine with its fake-quant weights) beside the 16-bit "
                     "model, on the questions and limits set in File > Export ONNX\u2026"));
}

ExportDialog* ExportController::showExportDialog() {
    if (!m_window->plans()->hasPlan() || !m_window->model()) {
        m_window->reportError(tr("Export ONNX"), tr("no plan to export: open a model and choose a budget first"));
        return nullptr;
    }
    if (m_dialog) m_dialog->deleteLater();
    m_dialog = new ExportDialog(plan_formats(m_window->plans()->plan()), m_window);
    m_dialog->setAttribute(Qt::WA_DeleteOnClose);
    ExportDialog* d = m_dialog;
    connect(d, &QDialog::accepted, this, [this, d] { startExport(d->outputDir(), d->options(), d->evalSettings()); });
    d->open();
    return d;
}

void ExportController::startExport(const QString& dir, const exporter::ExportOptions& options,
                                   const ExportEvalSettings& eval) {
    auto model = m_window->model();
    if (!model || !m_window->plans()->hasPlan()) {
        m_window->reportError(tr("Export ONNX"), tr("no plan to export"));
        return;
    }
    const plan::Plan plan = m_window->plans()->plan();
    const fs::path out = QDir::cleanPath(dir).toStdString();
    m_window->jobs()->start(tr("Exporting ONNX"), [this, model, plan, out, options, eval](const JobContext& ctx) -> JobRunner::Deliver {
        const auto r = exporter::export_onnx(*model, plan, out, options, ctx);
        return [this, r, eval, plan] {
            const QString d = QString::fromStdString(r.out_dir.string());
            emit exportFinished(d);
            if (eval.enabled) startEvaluation(d, eval, plan.avg_bits, static_cast<double>(r.total_bytes));
        };
    });
}

void ExportController::startEvaluation(const QString& dir, const ExportEvalSettings& eval, double avg_bits,
                                       double size_bytes) {
    const eval::EvalRequest req = eval_request_for(dir, eval);
    const QString label = QFileInfo(dir).fileName();
    const QString key = eval_key_for(eval), text = eval_key_text(eval);
    m_window->jobs()->start(tr("Evaluating %1").arg(label), [=, this](const JobContext& ctx) -> JobRunner::Deliver {
        auto report = std::make_shared<nlohmann::json>(eval::run_evaluation(req, ctx));
        double base_bytes = 0;
        if ((*report).contains("baseline") && (*report)["baseline"].is_object())
            base_bytes = folder_bytes((*report)["baseline"].value("path", std::string()));
        return [=, this] {
            addReportRows(*report, label, "export", avg_bits, size_bytes, base_bytes, key, text);
            m_dock->raise();
            emit evaluationFinished();
        };
    });
}

void ExportController::addReportRows(const nlohmann::json& report, const QString& label, const QString& kind,
                                     double avg_bits, double size_bytes, double base_bytes, const QString& key,
                                     const QString& text) {
    auto keyed = [&](ResultRow r) {
        r.eval_key = key;
        r.eval_text = text;
        return r;
    };
    if (report.contains("baseline") && report["baseline"].is_object())
        m_results->addRow(keyed(ResultsPanel::row_from_report(report, "baseline", tr("baseline (16-bit)"), "baseline", 16.0, base_bytes)));
    m_results->addRow(keyed(ResultsPanel::row_from_report(report, "target", label, kind, avg_bits, size_bytes)));
    m_dock->show();  // a result that arrives while the dock is closed brings it back
}

void ExportController::evaluatePlan(ExportEvalSettings eval) {
    auto model = m_window->model();
    if (m_window->scoring()->isScoring()) {
        m_window->reportError(tr("Evaluate plan"), tr("scoring is still running: the plan will change when it finishes"));
        return;
    }
    if (!model || !m_window->plans()->hasPlan()) {
        m_window->reportError(tr("Evaluate plan"), tr("no plan to evaluate"));
        return;
    }
    if (eval.mmlu_dir.isEmpty() && eval.piqa_dir.isEmpty()) eval = remembered_eval_settings();
    if (eval_key_for(eval).isEmpty()) {
        m_window->reportError(tr("Evaluate plan"), tr("no MMLU or PIQA data folder: both were cleared in File > Export ONNX\u2026 (the built-in data is at %1)")
                                      .arg(QString::fromStdString((io::data_dir() / "eval-data").string())));
        return;
    }
    eval.speed = false;  // fake-quant weights run at the dense model's speed: export the plan to time it
    // The plan on screen now (the job may wait behind another); its row is measured on the same questions as the
    // baseline row the job adds beside it.
    const plan::Plan plan = m_window->plans()->plan();
    eval::EvalRequest req = eval_request_for(QString::fromStdString(model->dir().string()), eval);
    req.plan = plan;
    QString label = tr("plan %1 bits").arg(plan.avg_bits, 0, 'f', 3);
    if (plan.score_mode == "fast") label += tr(" (fast scores)");
    const QString key = eval_key_for(eval), text = eval_key_text(eval);
    const double bytes = static_cast<double>(plan.estimated_file_bytes);
    const double base_bytes = folder_bytes(model->dir());
    if (m_window->jobs()->isBusy())
        m_window->statusBar()->showMessage(tr("Evaluation of %1 queued behind %2").arg(label, m_window->jobs()->currentTitle()), 8000);
    m_window->jobs()->start(tr("Evaluating %1").arg(label), [=, this](const JobContext& ctx) -> JobRunner::Deliver {
        auto report = std::make_shared<nlohmann::json>(eval::run_evaluation(req, ctx));
        return [=, this] {
            addReportRows(*report, label, "plan", plan.avg_bits, bytes, base_bytes, key, text);
            m_results->chartTabs()->setCurrentWidget(m_results->bitsPlot());
            m_dock->raise();
            emit evaluationFinished();
        };
    });
}

}  // namespace mixq::ui
