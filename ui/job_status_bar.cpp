// SPDX-License-Identifier: MIT
// JobStatusBar: progress / ETA / Cancel widgets bound to a JobRunner, device and memory-mode labels.
#include "ui/job_status_bar.h"

#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QThread>

#include "ui/format_utils.h"
#include "ui/job_runner.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mixq::ui {

JobStatusBar::JobStatusBar(JobRunner* runner, QWidget* parent) : QStatusBar(parent), m_runner(runner) {
    setObjectName("jobStatusBar");
    m_job = new QLabel(this);
    m_job->setObjectName("jobLabel");
    m_job->setMinimumWidth(120);
    m_progress = new QProgressBar(this);
    m_progress->setObjectName("jobProgress");
    m_progress->setRange(0, 1000);
    m_progress->setFixedWidth(180);
    m_progress->setTextVisible(true);
    m_progress->setFormat("%p%");
    m_eta = new QLabel(this);
    m_eta->setObjectName("jobEta");
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName("jobCancel");
    m_cancel->setToolTip(tr("Stop the running job (and drop queued ones)"));
    addWidget(m_job, 1);
    addWidget(m_progress);
    addWidget(m_eta);
    addWidget(m_cancel);

    m_memory = new QLabel(tr("memory: \u2014"), this);
    m_memory->setObjectName("memoryModeLabel");
    m_memory->setToolTip(tr("Scoring memory mode (set when scoring starts)"));
    m_device = new QLabel(this);
    m_device->setObjectName("deviceLabel");
    addPermanentWidget(m_memory);
    addPermanentWidget(m_device);
    setDeviceText(default_device_text(), tr("Compute device used for scoring and evaluation"));

    connect(runner, &JobRunner::busyChanged, this, &JobStatusBar::onBusy);
    connect(runner, &JobRunner::progressChanged, this, &JobStatusBar::onProgress);
    connect(runner, &JobRunner::jobStarted, this, [this](const QString& title) {
        clearMessage();  // a "done" message of the previous job would hide the progress bar and Cancel
        m_job->setText(title + "\u2026");
    });
    connect(m_cancel, &QPushButton::clicked, runner, &JobRunner::cancel);
    connect(runner, &JobRunner::jobFinished, this,
            [this](const QString& title) { showMessage(tr("%1: done").arg(title), 5000); });
    connect(runner, &JobRunner::jobFailed, this,
            [this](const QString& title, const QString&) { showMessage(tr("%1: failed").arg(title), 8000); });
    connect(runner, &JobRunner::jobCancelled, this,
            [this](const QString& title) { showMessage(tr("%1: cancelled").arg(title), 5000); });
    onBusy(runner->isBusy());
}

QString JobStatusBar::default_device_text() {
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
#else
    const int threads = QThread::idealThreadCount();
#endif
    return QString("CPU, %1 thread%2").arg(threads).arg(threads == 1 ? "" : "s");
}

void JobStatusBar::setDeviceText(const QString& text, const QString& tooltip) {
    m_device->setText(text);
    m_device->setToolTip(tooltip);
}

void JobStatusBar::setMemoryModeText(const QString& text, const QString& tooltip) {
    m_memory->setText(text.isEmpty() ? tr("memory: \u2014") : text);
    m_memory->setToolTip(tooltip);
}

void JobStatusBar::onBusy(bool busy) {
    m_job->setVisible(busy);
    m_progress->setVisible(busy);
    m_eta->setVisible(busy);
    m_cancel->setVisible(busy);
    m_cancel->setEnabled(busy);
    if (!busy) {
        m_job->clear();
        m_eta->clear();
        m_progress->setValue(0);
    } else {
        clearMessage();
    }
}

void JobStatusBar::onProgress(double fraction, const QString& stage, const QString& item, double eta) {
    m_progress->setValue(static_cast<int>(fraction * 1000.0 + 0.5));
    QString text = stage;
    if (!item.isEmpty()) text += ": " + item;
    m_job->setText(text);
    m_eta->setText(eta >= 0 ? tr("ETA %1").arg(format_duration(eta)) : tr("ETA \u2014"));
}

}  // namespace mixq::ui
