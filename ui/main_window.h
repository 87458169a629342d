// SPDX-License-Identifier: MIT
// MainWindow: the studio's main window. Opens model folders (drop, File menu, recent list, demo), scores them
// (ScoringController) or loads scores.json, plans bit budgets (PlanController), saves / loads plan.json, and lays
// out the heatmap over the frontier plot (centre), the budget panel over the groups tree / model summary (right
// dock), log (bottom dock) and job status (status bar). isBusy() covers every job and planner build.
#pragma once
#include <QMainWindow>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/score/score_table.h"

class QAction;
class QDockWidget;
class QMenu;
class QSplitter;
class QTabWidget;
class QVBoxLayout;

namespace mixq::io {
class Model;
}

namespace mixq::ui {

class BudgetPanel;
class FrontierPlot;
class GroupingTree;
class JobRunner;
class JobStatusBar;
class LogPanel;
class ModelSummaryPanel;
class PlanController;
class ScoringController;
class SensitivityHeatmap;
class SettingsDialog;
class StudioSession;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // --- actions (asynchronous; results arrive on the GUI thread, then modelLoaded / scoresLoaded) ---
    void openModel(const QString& dir);
    void openDemoModel();
    void loadScores(const QString& scores_json);

    /// Writes the current plan to plan.json (atomically); errors go to reportError. Returns success.
    bool savePlan(const QString& path);
    /// Reads a plan.json made for the open model and shows it; another model's plan (or a bad file) gives the
    /// one-line reason through reportError (a dialog when enabled). Returns success.
    bool loadPlan(const QString& path);
    /// Where the Save / Load Plan dialogs open: the folder of the last plan saved or loaded (QSettings), else the
    /// model's folder.
    QString planFolder() const;
    /// Settings > Scoring...: opens the dialog (window-modal, non-blocking); OK applies, saves and re-scores.
    SettingsDialog* showSettingsDialog();
    /// Score each model as it opens (default on); off leaves scoring to loadScores / setScores.
    void setAutoScore(bool on);

    // --- feeding the window (scorer, planner) ---
    /// Whole score table: heatmap candidates + every unit (warns in the log when its hash is not the model's);
    /// builds the planner for it when it belongs to the open model (or no model is open).
    void setScores(const score::ScoreTable& table);
    /// Starts an incremental score stream: clears the heatmap's scores and declares the candidate formats.
    void beginScores(const std::vector<quant::QuantFormat>& candidates, int scale_bits = 16);
    /// One unit's scores as the scorer produces them (GUI thread; use jobs()->post from a worker). The
    /// complete table should follow with setScores() when scoring finishes.
    void addUnitScore(const score::UnitScore& unit);
    /// The current plan: unit name -> format name; shown in the heatmap cells and tooltips.
    void setPlanFormats(const std::map<std::string, std::string>& unit_formats);
    void setMemoryMode(const QString& text, const QString& tooltip = {});
    void setDeviceText(const QString& text, const QString& tooltip = {});
    /// Adds a panel (e.g. export controls) to the right dock, below the budget panel and the tabs.
    void addSidePanel(QWidget* panel);

    // --- state ---
    std::shared_ptr<const io::Model> model() const;
    const score::ScoreTable* scores() const;
    /// The open model, its scores and the plan controller (one owner; the views read it).
    StudioSession* session() const { return m_session; }
    /// True while any job is running or queued (loading, scoring, ...). busyChanged(false) marks idle.
    bool isBusy() const;
    /// Logs "error: message", emits errorReported and, when enabled, shows a non-blocking warning dialog.
    void reportError(const QString& title, const QString& message);
    /// Error dialogs (non-blocking QMessageBox) on/off; errorReported is emitted either way.
    void setErrorDialogsEnabled(bool on) { m_errorDialogs = on; }
    /// Whether opened models are added to File > Recent Models (QSettings); on by default.
    void setRememberRecent(bool on) { m_rememberRecent = on; }

    JobRunner* jobs() const { return m_jobs; }
    SensitivityHeatmap* heatmap() const { return m_heatmap; }
    ModelSummaryPanel* summaryPanel() const { return m_summary; }
    LogPanel* logPanel() const { return m_log; }
    JobStatusBar* jobStatusBar() const { return m_status; }
    ScoringController* scoring() const { return m_scoring; }
    PlanController* plans() const;
    BudgetPanel* budgetPanel() const { return m_budget; }
    FrontierPlot* frontierPlot() const { return m_frontier; }
    GroupingTree* groupingTree() const { return m_tree; }
    QTabWidget* sideTabs() const { return m_sideTabs; }
    QSplitter* centreSplitter() const { return m_centre; }
    QDockWidget* sideDock() const { return m_sideDock; }
    QDockWidget* logDock() const { return m_logDock; }

signals:
    void modelLoaded(const QString& dir);
    void scoresLoaded(const QString& path);
    void errorReported(const QString& title, const QString& message);
    void busyChanged(bool busy);
    void planLoaded(const QString& path);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void buildDocks();
    void rebuildRecentMenu();
    void applyModel(std::shared_ptr<const io::Model> model, double seconds);
    void showAbout();
    void chooseModelFolder();
    void chooseScoresFile();
    void chooseSavePlan();
    void chooseLoadPlan();
    void updateBusy();
    void rememberPlanFolder(const QString& file);

    JobRunner* m_jobs = nullptr;
    SensitivityHeatmap* m_heatmap = nullptr;
    ModelSummaryPanel* m_summary = nullptr;
    LogPanel* m_log = nullptr;
    JobStatusBar* m_status = nullptr;
    QDockWidget* m_sideDock = nullptr;
    QDockWidget* m_logDock = nullptr;
    QVBoxLayout* m_sideLayout = nullptr;
    QMenu* m_recentMenu = nullptr;
    ScoringController* m_scoring = nullptr;
    PlanController* m_plans = nullptr;  ///< the session's
    BudgetPanel* m_budget = nullptr;
    FrontierPlot* m_frontier = nullptr;
    GroupingTree* m_tree = nullptr;
    QTabWidget* m_sideTabs = nullptr;
    QSplitter* m_centre = nullptr;
    QAction* m_savePlanAction = nullptr;
    bool m_busy = false;

    StudioSession* m_session = nullptr;
    bool m_errorDialogs = true;
    bool m_rememberRecent = true;
};

}  // namespace mixq::ui
