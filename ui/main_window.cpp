// SPDX-License-Identifier: MIT
// MainWindow: menus, docks, drag & drop, and the model / scores loading jobs.
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
#include <QVBoxLayout>
#include <chrono>

#include "core/io/model.h"
#include "ui/drop_target.h"
#include "ui/format_utils.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/log_panel.h"
#include "ui/model_summary_panel.h"
#include "ui/recent_models.h"
#include "ui/sensitivity_heatmap.h"

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
    m_heatmap = new SensitivityHeatmap(this);
    setCentralWidget(m_heatmap);
    m_status = new JobStatusBar(m_jobs, this);
    setStatusBar(m_status);
    buildDocks();
    buildMenus();

    connect(m_jobs, &JobRunner::busyChanged, this, &MainWindow::busyChanged);
    connect(m_jobs, &JobRunner::logLine, m_log, &LogPanel::appendLine);
    connect(m_jobs, &JobRunner::jobStarted, this, [this](const QString& t) { m_log->appendLine(t + "\u2026"); });
    connect(m_jobs, &JobRunner::jobCancelled, this, [this](const QString& t) { m_log->appendLine(t + ": cancelled"); });
    connect(m_jobs, &JobRunner::jobFailed, this, [this](const QString& t, const QString& msg) { reportError(tr("%1 failed").arg(t), msg); });
}

MainWindow::~MainWindow() {
    delete m_jobs;  // cancels and joins the worker before the window's members go away
    m_jobs = nullptr;
}

void MainWindow::buildDocks() {
    m_summary = new ModelSummaryPanel();
    auto* side = new QWidget();
    m_sideLayout = new QVBoxLayout(side);
    m_sideLayout->setContentsMargins(0, 0, 0, 0);
    m_sideLayout->addWidget(m_summary);
    m_sideLayout->addStretch(1);
    auto* scroll = new QScrollArea();
    scroll->setWidget(side);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    m_sideDock = new QDockWidget(tr("Model"), this);
    m_sideDock->setObjectName("sideDock");
    m_sideDock->setWidget(scroll);
    m_sideDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    m_sideDock->setMinimumWidth(300);
    addDockWidget(Qt::RightDockWidgetArea, m_sideDock);

    m_log = new LogPanel();
    m_logDock = new QDockWidget(tr("Log"), this);
    m_logDock->setObjectName("logDock");
    m_logDock->setWidget(m_log);
    m_logDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                           QDockWidget::DockWidgetClosable);
    addDockWidget(Qt::BottomDockWidgetArea, m_logDock);
    resizeDocks({m_sideDock}, {340}, Qt::Horizontal);
    resizeDocks({m_logDock}, {150}, Qt::Vertical);
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
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setObjectName("actionQuit");

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
    m_model = std::move(model);
    m_hasScores = false;
    m_scores = score::ScoreTable{};
    const auto& c = m_model->config();
    m_summary->setModel(*m_model);
    m_heatmap->setModelLayout(m_model->layout(), c.num_layers);
    const QString dir = QString::fromStdString(m_model->dir().string());
    const QString name = QString::fromStdString(m_model->dir().filename().string());
    setWindowTitle(QString("MixQ Studio \u2014 %1").arg(name));
    m_sideDock->setWindowTitle(tr("Model \u2014 %1").arg(name));
    if (m_rememberRecent) RecentModels::add(dir);
    m_log->appendLine(QString("Model %1: %2, %3 layers, hidden %4, %5 parameters, %6 units (%7 s)")
                          .arg(name, QString::fromStdString(c.model_type))
                          .arg(c.num_layers)
                          .arg(c.hidden_size)
                          .arg(format_count(m_model->parameter_count()))
                          .arg(m_model->layout().units.size())
                          .arg(seconds, 0, 'f', 2));
    emit modelLoaded(dir);
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
                          setScores(*table);
                          emit scoresLoaded(file);
                      };
                  });
}

void MainWindow::setScores(const score::ScoreTable& table) {
    m_scores = table;
    m_hasScores = true;
    m_heatmap->setScoreTable(table);
    QStringList cands;
    for (const auto& f : table.candidates) cands << QString::fromStdString(f.name());
    m_log->appendLine(QString("Scores: %1 units, candidates %2, %3 calibration samples \u00d7 %4 tokens")
                          .arg(table.units.size())
                          .arg(cands.join(", "))
                          .arg(table.calib_samples)
                          .arg(table.calib_seq_len));
    if (m_model && !table.model_hash.empty() && table.model_hash != m_model->content_hash())
        m_log->appendLine(QString("warning: these scores were computed for model hash %1, the open model's is %2")
                              .arg(QString::fromStdString(table.model_hash),
                                   QString::fromStdString(m_model->content_hash())));
    if (!table.memory_mode.empty())
        setMemoryMode("memory: " + QString::fromStdString(table.memory_mode),
                      QString::fromStdString(table.memory_reason));
}

void MainWindow::beginScores(const std::vector<quant::QuantFormat>& candidates, int scale_bits) {
    m_hasScores = false;
    m_scores = score::ScoreTable{};
    m_heatmap->clearScores();
    m_heatmap->setCandidates(candidates, scale_bits);
}

void MainWindow::addUnitScore(const score::UnitScore& unit) { m_heatmap->setUnitScore(unit); }

void MainWindow::setPlanFormats(const std::map<std::string, std::string>& unit_formats) {
    m_heatmap->setPlanFormats(unit_formats);
}

void MainWindow::setMemoryMode(const QString& text, const QString& tooltip) { m_status->setMemoryModeText(text, tooltip); }

void MainWindow::setDeviceText(const QString& text, const QString& tooltip) { m_status->setDeviceText(text, tooltip); }

void MainWindow::addSidePanel(QWidget* panel) { m_sideLayout->insertWidget(m_sideLayout->count() - 1, panel); }

bool MainWindow::isBusy() const { return m_jobs->isBusy(); }

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
    const QString start = m_model ? QString::fromStdString(m_model->dir().string()) : QDir::homePath();
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
