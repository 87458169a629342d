// SPDX-License-Identifier: MIT
// MainWindow: menus, docks, drag & drop, the model / scores loading jobs, and the wiring of scoring, planning and
// plan files.
#include "ui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QStatusBar>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QTreeWidgetItem>
#include <chrono>
#include <cmath>

#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/plan_json.h"
#include "ui/budget_panel.h"
#include "ui/drop_target.h"
#include "ui/export_controller.h"
#include "ui/format_utils.h"
#include "ui/frontier_plot.h"
#include "ui/results_model.h"
#include "ui/grouping_tree.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/log_panel.h"
#include "ui/model_summary_panel.h"
#include "ui/plan_controller.h"
#include "ui/plan_presenter.h"
#include "ui/recent_models.h"
#include "ui/scoring_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui/settings_dialog.h"
#include "ui/studio_session.h"

namespace mixq::ui {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setObjectName("mainWindow");
    setWindowTitle("MixQ Studio");
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks);
    resize(1360, 860);

    m_jobs = new JobRunner(this);
    m_session = new StudioSession(this);
    m_plans = m_session->plans();
    m_heatmap = new SensitivityHeatmap();
    m_heatmap->setScoreSource(&m_session->liveScores());  // streamed units are held once, by the session
    m_frontier = new FrontierPlot();
    m_centre = new QSplitter(Qt::Vertical, this);
    m_centre->setObjectName("centreSplitter");
    m_centre->addWidget(m_heatmap);
    m_centre->addWidget(m_frontier);
    m_centre->setStretchFactor(0, 3);
    m_centre->setStretchFactor(1, 2);
    m_centre->setChildrenCollapsible(false);
    setCentralWidget(m_centre);
    m_status = new JobStatusBar(m_jobs, this);
    setStatusBar(m_status);
    buildDocks();
    buildMenus();
    m_scoring = new ScoringController(this);

    connect(m_jobs, &JobRunner::busyChanged, this, &MainWindow::updateBusy);
    connect(m_plans, &PlanController::busyChanged, this, &MainWindow::updateBusy);
    connect(m_plans, &PlanController::failed, this, [this](const QString& msg) { reportError(tr("Planning"), msg); });
    new PlanPresenter(m_plans, m_heatmap, m_tree, m_frontier, m_savePlanAction, m_log, this);
    // A heatmap cell selects its unit in the groups tree; right-click offers the tree's pin menu there.
    connect(m_heatmap, &SensitivityHeatmap::unitClicked, this, [this](const QString& unit) {
        QTreeWidgetItem* item = m_tree->unitItem(unit);
        if (!item) return;
        m_sideTabs->setCurrentWidget(m_tree);
        m_tree->setCurrentItem(item);
        m_tree->scrollToItem(item);
    });
    connect(m_heatmap, &SensitivityHeatmap::unitMenuRequested, this, [this](const QString& unit, const QPoint& global) {
        QTreeWidgetItem* item = m_tree->unitItem(unit);
        if (!item || !m_plans->hasPlan()) return;
        QMenu* menu = m_tree->createContextMenu(item, m_heatmap);
        menu->setObjectName("heatmapPinMenu");
        menu->setAttribute(Qt::WA_DeleteOnClose);
        menu->popup(global);
    });
    // A click on the frontier sets the budget to that point (the grid target at or just above its average bits).
    // Every evaluated plan or export shows its measured KLD beside its prediction on the frontier.
    connect(m_session->results(), &ResultsModel::changed, m_frontier,
            [this] { m_frontier->setMeasured(m_session->results()->rows()); });
    connect(m_frontier, &FrontierPlot::pointPicked, this, [this](double avg_bits) {
        if (m_plans->planner()) m_plans->setTarget(std::ceil(avg_bits / PlanController::kGrid - 1e-9) * PlanController::kGrid);
    });
    new ExportController(this);  // File > Export ONNX..., Evaluate Current Plan, Results dock
    connect(m_jobs, &JobRunner::logLine, m_log, &LogPanel::appendLine);
    connect(m_jobs, &JobRunner::jobStarted, this, [this](const QString& t) { m_log->appendLine(t + "\u2026"); });
    connect(m_jobs, &JobRunner::jobCancelled, this, [this](const QString& t) { m_log->appendLine(t + ": cancelled"); });
    connect(m_jobs, &JobRunner::jobFailed, this, [this](const QString& t, const QString& msg) { reportError(tr("%1 failed").arg(t), msg); });
}

MainWindow::~MainWindow() {
    delete m_jobs;  // cancels and joins the worker before the window's members go away
    m_jobs = nullptr;
    m_heatmap->setScoreSource(nullptr);  // it read the session's scores
    delete m_session;  // joins a running planner build
    m_session = nullptr;
    m_plans = nullptr;
}

void MainWindow::buildDocks() {
    m_summary = new ModelSummaryPanel();
    m_budget = new BudgetPanel(m_plans);
    m_tree = new GroupingTree();
    m_sideTabs = new QTabWidget();
    m_sideTabs->setObjectName("sideTabs");
    m_sideTabs->setDocumentMode(true);
    m_sideTabs->addTab(m_tree, tr("Groups"));
    auto* summaryScroll = new QScrollArea();
    summaryScroll->setWidget(m_summary);
    summaryScroll->setWidgetResizable(true);
    summaryScroll->setFrameShape(QFrame::NoFrame);
    m_sideTabs->addTab(summaryScroll, tr("Model"));
    auto* side = new QWidget();
    m_sideLayout = new QVBoxLayout(side);
    m_sideLayout->setContentsMargins(4, 4, 4, 4);
    m_sideLayout->setSpacing(6);
    m_sideLayout->addWidget(m_budget);
    m_sideLayout->addWidget(m_sideTabs, 1);
    auto* scroll = new QScrollArea();
    scroll->setObjectName("sideScroll");
    scroll->setWidget(side);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    // Never scrolled sideways (that clipped the budget controls at 1024x700): the panel is as wide as the dock, and
    // the dock at least as wide as the panel needs beside a vertical scroll bar.
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_sideDock = new QDockWidget(tr("Model"), this);
    m_sideDock->setObjectName("sideDock");
    m_sideDock->setWidget(scroll);
    m_sideDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                            QDockWidget::DockWidgetClosable);  // closable, so View > Model is a working toggle
    m_sideDock->setMinimumWidth(std::max(340, side->minimumSizeHint().width() +
                                                  scroll->verticalScrollBar()->sizeHint().width() + 8));
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    addDockWidget(Qt::RightDockWidgetArea, m_sideDock);

    m_log = new LogPanel();
    m_logDock = new QDockWidget(tr("Log"), this);
    m_logDock->setObjectName("logDock");
    m_logDock->setWidget(m_log);
    m_logDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                           QDockWidget::DockWidgetClosable);
    addDockWidget(Qt::BottomDockWidgetArea, m_logDock);
    resizeDocks({m_sideDock}, {400}, Qt::Horizontal);
    resizeDocks({m_logDock}, {120}, Qt::Vertical);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open Model Folder\u2026"), this, &MainWindow::chooseModelFolder);
    open->setShortcut(QKeySequence::Open);
    open->setObjectName("actionOpenModel");
    QAction* demo = file->addAction(tr("Open &Demo Model"), this, &MainWindow::openDemoModel);
    demo->setObjectName("actionOpenDemo");
    m_recentMenu = file->addMenu(tr("&Recent Models"));
    m_recentMenu->setObjectName("menuRecent");
    connect(m_recentMenu, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
    rebuildRecentMenu();
    file->addSeparator();
    QAction* scores = file->addAction(tr("&Load Scores\u2026"), this, &MainWindow::chooseScoresFile);
    scores->setObjectName("actionLoadScores");
    file->addSeparator();
    m_savePlanAction = file->addAction(tr("&Save Plan\u2026"), this, &MainWindow::chooseSavePlan);
    m_savePlanAction->setObjectName("actionSavePlan");
    m_savePlanAction->setShortcut(QKeySequence::Save);
    m_savePlanAction->setEnabled(false);
    QAction* loadPlan = file->addAction(tr("Load &Plan\u2026"), this, &MainWindow::chooseLoadPlan);
    loadPlan->setObjectName("actionLoadPlan");
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setObjectName("actionQuit");

    QMenu* settings = menuBar()->addMenu(tr("&Settings"));
    QAction* scoring = settings->addAction(tr("&Scoring\u2026"), this, [this] { showSettingsDialog(); });
    scoring->setObjectName("actionScoringSettings");

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(m_sideDock->toggleViewAction());
    view->addAction(m_logDock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("&About MixQ Studio"), this, &MainWindow::showAbout);
    about->setObjectName("actionAbout");
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList recent = RecentModels::list();
    for (const QString& dir : recent) {
        QAction* a = m_recentMenu->addAction(QDir::toNativeSeparators(dir));
        connect(a, &QAction::triggered, this, [this, dir] { openModel(dir); });
    }
    if (recent.isEmpty()) {
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    } else {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear List"), this, [] { RecentModels::clear(); });
    }
}

// ---------------------------------------------------------------- loading

void MainWindow::openModel(const QString& dir) {
    m_scoring->cancel();  // the old model's scoring must not hold up the new one
    const std::filesystem::path path = QDir(dir).absolutePath().toStdString();
    const QString title = tr("Opening %1").arg(QFileInfo(dir).fileName());
    m_jobs->start(title, [this, path](const JobContext& ctx) -> JobRunner::Deliver {
        const auto t0 = std::chrono::steady_clock::now();
        ctx.report(0.02, "opening model", path.filename().string());
        std::shared_ptr<const io::Model> model = io::Model::open(path);
        ctx.report(0.25, "hashing weights", path.filename().string());
        const std::string hash = model->content_hash();
        ctx.report(1.0, "done");
        const double secs = seconds_since(t0);
        ctx.log("opened " + path.string() + " (content hash " + hash + ")");
        return [this, model, secs] { applyModel(model, secs); };
    });
}

void MainWindow::openDemoModel() { openModel(QString::fromStdString(io::demo_model_path().string())); }

void MainWindow::applyModel(std::shared_ptr<const io::Model> model, double seconds) {
    m_session->setModel(std::move(model));
    const auto current = m_session->model();
    m_budget->setModel(current);
    const auto& c = current->config();
    m_summary->setModel(*current);
    m_heatmap->setModelLayout(current->layout(), c.num_layers);
    m_plans->clear();
    m_frontier->clear();
    m_tree->setModelLayout(current->layout(), c.num_layers);
    setMemoryMode({}, {});
    const QString dir = QString::fromStdString(current->dir().string());
    const QString name = QString::fromStdString(current->dir().filename().string());
    setWindowTitle(QString("MixQ Studio \u2014 %1").arg(name));
    m_sideDock->setWindowTitle(tr("Model \u2014 %1").arg(name));
    if (m_rememberRecent) RecentModels::add(dir);
    m_log->appendLine(QString("Model %1: %2, %3 layers, hidden %4, %5 parameters, %6 units (%7 s)")
                          .arg(name, QString::fromStdString(c.model_type))
                          .arg(c.num_layers)
                          .arg(c.hidden_size)
                          .arg(format_count(current->parameter_count()))
                          .arg(current->layout().units.size())
                          .arg(seconds, 0, 'f', 2));
    m_scoring->useModel(QString::fromStdString(current->content_hash()));
    emit modelLoaded(dir);
    if (m_scoring->autoScore()) m_scoring->scoreModel();
}

void MainWindow::loadScores(const QString& scores_json) {
    const std::filesystem::path path = QFileInfo(scores_json).absoluteFilePath().toStdString();
    m_jobs->start(tr("Loading scores %1").arg(QFileInfo(scores_json).fileName()),
                  [this, path](const JobContext& ctx) -> JobRunner::Deliver {
                      ctx.report(0.05, "reading scores", path.filename().string());
                      auto table = std::make_shared<score::ScoreTable>(score::load_score_table(path));
                      ctx.report(1.0, "done");
                      const QString file = QString::fromStdString(path.string());
                      return [this, table, file] {
                          // Scores for the open model replace its automatic scoring.
                          if (model() && table->model_hash == model()->content_hash()) m_scoring->supersede();
                          setScores(*table);
                          emit scoresLoaded(file);
                      };
                  });
}

void MainWindow::setScores(const score::ScoreTable& scores) {
    const auto shared = std::make_shared<const score::ScoreTable>(scores);  // the one copy: session and planner share it
    const score::ScoreTable& table = *shared;
    const auto current = m_session->model();
    m_session->setScores(shared);
    m_heatmap->setScoreTable(shared);
    // Fast and exact scores can rank units differently: views of fast scores say they are provisional.
    m_heatmap->setStatusNote(table.mode == "fast" ? tr("fast-estimate scores: provisional") : QString());
    QStringList cands;
    for (const auto& f : table.candidates) cands << QString::fromStdString(f.name());
    m_log->appendLine(QString("Scores: %1 units, candidates %2, %3 calibration samples \u00d7 %4 tokens")
                          .arg(table.units.size())
                          .arg(cands.join(", "))
                          .arg(table.calib_samples)
                          .arg(table.calib_seq_len));
    if (current && !table.model_hash.empty() && table.model_hash != current->content_hash())
        m_log->appendLine(QString("warning: these scores were computed for model hash %1, the open model's is %2")
                              .arg(QString::fromStdString(table.model_hash),
                                   QString::fromStdString(current->content_hash())));
    if (!table.memory_mode.empty()) {
        const MemoryModeText t = memory_mode_text(table.memory_mode, table.memory_reason);
        setMemoryMode(t.text, t.tooltip);
    }
    m_tree->setCandidates(table.candidates);
    if (!current) {
        m_plans->setScores(shared, plan::PlannerOptions{});
        return;
    }
    try {
        plan::check_scores_for_model(table, *current, "scores");
        m_plans->setScores(shared, plan::planner_options_for(*current, table));
    } catch (const Error& e) {
        m_log->appendLine(QString("warning: no plan for these scores: %1").arg(e.what()));
        m_plans->clear();
    }
}

void MainWindow::beginScores(const std::vector<quant::QuantFormat>& candidates, int scale_bits) {
    m_session->clearScores();
    m_heatmap->clearScores();
    m_heatmap->setCandidates(candidates, scale_bits);
    // Every view goes together: the plan and frontier of the previous scores leave with their heatmap (pins stay).
    m_plans->clear(/*keep_pins=*/true);
}

void MainWindow::addUnitScore(const score::UnitScore& unit) { m_heatmap->setUnitScore(unit); }

void MainWindow::setPlanFormats(const std::map<std::string, std::string>& unit_formats) {
    m_heatmap->setPlanFormats(unit_formats);
}

void MainWindow::setMemoryMode(const QString& text, const QString& tooltip) { m_status->setMemoryModeText(text, tooltip); }

void MainWindow::setDeviceText(const QString& text, const QString& tooltip) { m_status->setDeviceText(text, tooltip); }

void MainWindow::addSidePanel(QWidget* panel) { m_sideLayout->insertWidget(m_sideLayout->count() - 1, panel); }

std::shared_ptr<const io::Model> MainWindow::model() const { return m_session ? m_session->model() : nullptr; }

const score::ScoreTable* MainWindow::scores() const { return m_session ? m_session->scores().get() : nullptr; }

PlanController* MainWindow::plans() const { return m_plans; }

bool MainWindow::isBusy() const { return (m_jobs && m_jobs->isBusy()) || (m_plans && m_plans->isBusy()); }

void MainWindow::updateBusy() {
    const bool b = isBusy();
    if (b == m_busy) return;
    m_busy = b;
    emit busyChanged(b);
}

void MainWindow::setAutoScore(bool on) { m_scoring->setAutoScore(on); }

// ---------------------------------------------------------------- plans

bool MainWindow::savePlan(const QString& path) {
    try {
        if (!m_plans->hasPlan()) fail(path.toStdString(), "there is no plan yet; wait for scoring to finish");
        plan::save_plan(m_plans->plan(), path.toStdString());
    } catch (const Error& e) {
        reportError(tr("Save Plan"), QString::fromStdString(e.what()));
        return false;
    }
    m_log->appendLine(QString("Plan saved to %1 (%2 bits/weight)").arg(path).arg(m_plans->plan().avg_bits, 0, 'f', 4));
    statusBar()->showMessage(tr("Plan saved to %1").arg(QDir::toNativeSeparators(path)), 8000);
    rememberPlanFolder(path);
    return true;
}

bool MainWindow::loadPlan(const QString& path) {
    try {
        if (!model()) fail(path.toStdString(), "open the model the plan was made for first");
        const plan::Plan p = plan::load_plan(path.toStdString());
        plan::check_plan_for_model(p, *model(), path.toStdString());
        m_plans->applyPlan(p, path);
    } catch (const Error& e) {
        reportError(tr("Load Plan"), QString::fromStdString(e.what()));
        return false;
    }
    m_log->appendLine(QString("Plan loaded from %1").arg(path));
    statusBar()->showMessage(tr("Plan loaded from %1").arg(QDir::toNativeSeparators(path)), 8000);
    rememberPlanFolder(path);
    emit planLoaded(path);
    return true;
}

void MainWindow::rememberPlanFolder(const QString& file) {
    QSettings().setValue("plans/last_folder", QFileInfo(file).absolutePath());
}

QString MainWindow::planFolder() const {
    const QString last = QSettings().value("plans/last_folder").toString();
    if (!last.isEmpty() && QFileInfo(last).isDir()) return last;
    return model() ? QString::fromStdString(model()->dir().string()) : QDir::homePath();
}

void MainWindow::chooseSavePlan() {
    const QString start = QDir(planFolder()).filePath("plan.json");
    const QString file = QFileDialog::getSaveFileName(this, tr("Save Plan"), start, tr("Plan (*.json);;All files (*)"));
    if (!file.isEmpty()) savePlan(file);
}

void MainWindow::chooseLoadPlan() {
    const QString start = planFolder();
    const QString file = QFileDialog::getOpenFileName(this, tr("Load Plan"), start, tr("Plan (*.json);;All files (*)"));
    if (!file.isEmpty()) loadPlan(file);
}

SettingsDialog* MainWindow::showSettingsDialog() {
    auto* dlg = new SettingsDialog(m_scoring->settings(), this);
    dlg->setAttribute(Qt::WA_DeleteOnClose);
    connect(dlg, &QDialog::accepted, this, [this, dlg] {
        const ScoringSettings s = dlg->settings();
        const bool changed = !(s == m_scoring->settings());
        m_scoring->setSettings(s);
        m_log->appendLine(QString("Scoring settings: %1").arg(s.cache_key_text()));
        if (changed && model() && m_scoring->autoScore()) m_scoring->scoreModel();
    });
    dlg->open();
    return dlg;
}

// ---------------------------------------------------------------- user interaction

void MainWindow::reportError(const QString& title, const QString& message) {
    m_log->appendLine("error: " + message);
    emit errorReported(title, message);
    if (!m_errorDialogs) return;
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setObjectName("errorDialog");
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();  // window-modal, does not block the event loop
}

void MainWindow::chooseModelFolder() {
    const QStringList recent = RecentModels::list();
    const QString start = recent.isEmpty() ? QDir::homePath() : QFileInfo(recent.front()).absolutePath();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Model Folder"), start);
    if (!dir.isEmpty()) openModel(dir);
}

void MainWindow::chooseScoresFile() {
    const QString start = model() ? QString::fromStdString(model()->dir().string()) : QDir::homePath();
    const QString file =
        QFileDialog::getOpenFileName(this, tr("Load Scores"), start, tr("Scores (*.json);;All files (*)"));
    if (!file.isEmpty()) loadScores(file);
}

void MainWindow::showAbout() {
    QMessageBox::about(
        this, tr("About MixQ Studio"),
        tr("<h3>MixQ Studio %1</h3>"
           "<p>Interactive mixed-precision quantization of LLMs: per-layer sensitivity, a bit budget, ONNX export "
           "and accuracy vs. speed.</p><p>Qt %2, QCustomPlot. MIT licence.</p>")
            .arg(MIXQ_VERSION, qVersion()));
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (classify_drop(event->mimeData()).kind != DropTarget::None) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const DropTarget t = classify_drop(event->mimeData());
    if (t.kind == DropTarget::None) return;
    event->acceptProposedAction();
    if (t.kind == DropTarget::ModelFolder)
        openModel(t.path);
    else
        loadScores(t.path);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    m_jobs->cancel();
    QMainWindow::closeEvent(event);
}

}  // namespace mixq::ui
