// SPDX-License-Identifier: MIT
// MainWindow: the studio's main window. Opens model folders (drop, File menu, recent list, demo), loads
// scores.json, and lays out the heatmap (centre), model summary + future controls (right dock), log (bottom
// dock) and job status (status bar). Every long step runs on its JobRunner; busy() covers all of them.
#pragma once
#include <QMainWindow>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/score/score_table.h"

class QDockWidget;
class QMenu;
class QVBoxLayout;

namespace mixq::io {
class Model;
}

namespace mixq::ui {

class JobRunner;
class JobStatusBar;
class LogPanel;
class ModelSummaryPanel;
class SensitivityHeatmap;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // --- actions (asynchronous; results arrive on the GUI thread, then modelLoaded / scoresLoaded) ---
    void openModel(const QString& dir);
    void openDemoModel();
    void loadScores(const QString& scores_json);

    // --- feeding the window (scorer, planner) ---
    /// Whole score table: heatmap candidates + every unit (warns in the log when its hash is not the model's).
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
    /// Adds a panel (e.g. bit-budget controls) to the right dock, below the model summary.
    void addSidePanel(QWidget* panel);

    // --- state ---
    std::shared_ptr<const io::Model> model() const { return m_model; }
    const score::ScoreTable* scores() const { return m_hasScores ? &m_scores : nullptr; }
    /// True while any job is running or queued (loading, scoring, ...). busyChanged(false) marks idle.
    bool isBusy() const;
    /// Error dialogs (non-blocking QMessageBox) on/off; errorReported is emitted either way.
    void setErrorDialogsEnabled(bool on) { m_errorDialogs = on; }
    /// Whether opened models are added to File > Recent Models (QSettings); on by default.
    void setRememberRecent(bool on) { m_rememberRecent = on; }

    JobRunner* jobs() const { return m_jobs; }
    SensitivityHeatmap* heatmap() const { return m_heatmap; }
    ModelSummaryPanel* summaryPanel() const { return m_summary; }
    LogPanel* logPanel() const { return m_log; }
    JobStatusBar* jobStatusBar() const { return m_status; }
    QDockWidget* sideDock() const { return m_sideDock; }
    QDockWidget* logDock() const { return m_logDock; }

signals:
    void modelLoaded(const QString& dir);
    void scoresLoaded(const QString& path);
    void errorReported(const QString& title, const QString& message);
    void busyChanged(bool busy);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void buildDocks();
    void rebuildRecentMenu();
    void applyModel(std::shared_ptr<const io::Model> model, double seconds);
    void reportError(const QString& title, const QString& message);
    void showAbout();
    void chooseModelFolder();
    void chooseScoresFile();

    JobRunner* m_jobs = nullptr;
    SensitivityHeatmap* m_heatmap = nullptr;
    ModelSummaryPanel* m_summary = nullptr;
    LogPanel* m_log = nullptr;
    JobStatusBar* m_status = nullptr;
    QDockWidget* m_sideDock = nullptr;
    QDockWidget* m_logDock = nullptr;
    QVBoxLayout* m_sideLayout = nullptr;
    QMenu* m_recentMenu = nullptr;

    std::shared_ptr<const io::Model> m_model;
    score::ScoreTable m_scores;
    bool m_hasScores = false;
    bool m_errorDialogs = true;
    bool m_rememberRecent = true;
};

}  // namespace mixq::ui
