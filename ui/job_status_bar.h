// SPDX-License-Identifier: MIT
// JobStatusBar: the main window's status bar. Shows the running job (stage, item, progress bar, ETA, Cancel)
// while a JobRunner is busy, plus permanent device ("CPU, N threads") and memory-mode labels.
#pragma once
#include <QStatusBar>

class QLabel;
class QProgressBar;
class QPushButton;

namespace mixq::ui {

class JobRunner;

class JobStatusBar : public QStatusBar {
    Q_OBJECT
public:
    explicit JobStatusBar(JobRunner* runner, QWidget* parent = nullptr);

    void setDeviceText(const QString& text, const QString& tooltip = {});
    /// The scorer's memory mode (e.g. "memory: streaming"); empty hides nothing, shows a dash.
    void setMemoryModeText(const QString& text, const QString& tooltip = {});

    QProgressBar* progressBar() const { return m_progress; }
    QPushButton* cancelButton() const { return m_cancel; }
    QLabel* jobLabel() const { return m_job; }
    QLabel* etaLabel() const { return m_eta; }
    QLabel* deviceLabel() const { return m_device; }
    QLabel* memoryLabel() const { return m_memory; }

    /// "CPU, N threads" for the threads the core engine will use (OpenMP's count when built with it).
    static QString default_device_text();

private:
    void onBusy(bool busy);
    void onProgress(double fraction, const QString& stage, const QString& item, double eta);

    JobRunner* m_runner;
    QLabel* m_job;
    QProgressBar* m_progress;
    QLabel* m_eta;
    QPushButton* m_cancel;
    QLabel* m_device;
    QLabel* m_memory;
};

}  // namespace mixq::ui
