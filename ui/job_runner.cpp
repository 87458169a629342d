// SPDX-License-Identifier: MIT
// JobRunner: worker-thread execution via QtConcurrent, queued delivery of progress, logs and results.
#include "ui/job_runner.h"

#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

namespace mixq::ui {

JobRunner::JobRunner(QObject* parent) : QObject(parent) { m_pool.setMaxThreadCount(1); }

JobRunner::~JobRunner() {
    m_queue.clear();
    m_token.cancel();
    m_future.waitForFinished();
    m_pool.waitForDone();
}

void JobRunner::start(const QString& title, Work work) {
    m_queue.push_back({title, std::move(work)});
    setBusy(true);
    if (!m_running && !m_delivering) startNext();  // from a Deliver: finishJob starts it right after
}

void JobRunner::cancel() {
    m_queue.clear();
    if (m_running) {
        m_token.cancel();
    } else {
        setBusy(false);
    }
}

void JobRunner::post(std::function<void()> fn) {
    QMetaObject::invokeMethod(this, std::move(fn), Qt::QueuedConnection);
}

void JobRunner::setBusy(bool busy) {
    if (busy == m_busy) return;
    m_busy = busy;
    emit busyChanged(busy);
}

void JobRunner::startNext() {
    if (m_queue.empty()) {
        setBusy(false);
        return;
    }
    Pending job = std::move(m_queue.front());
    m_queue.pop_front();
    m_running = true;
    m_currentTitle = job.title;
    m_token = CancelToken();
    const quint64 id = ++m_jobId;
    {
        std::lock_guard<std::mutex> lock(m_progressMutex);
        m_latest = Progress{};
        m_progressPending = false;
    }
    emit jobStarted(job.title);
    emit progressChanged(0.0, job.title, QString(), -1.0);

    auto on_progress = [this](const Progress& p) {
        bool post_now = false;
        {
            std::lock_guard<std::mutex> lock(m_progressMutex);
            m_latest = p;
            post_now = !m_progressPending;
            m_progressPending = true;
        }
        if (post_now) QMetaObject::invokeMethod(this, [this] { deliverProgress(); }, Qt::QueuedConnection);
    };
    auto on_log = [this](const std::string& line) {
        const QString text = QString::fromStdString(line);
        QMetaObject::invokeMethod(this, [this, text] { emit logLine(text); }, Qt::QueuedConnection);
    };
    JobContext ctx(m_token, on_progress, on_log);
    Work work = std::move(job.work);
    m_future = QtConcurrent::run(&m_pool, [this, id, ctx, work]() {
        Outcome outcome = Outcome::Ok;
        QString message;
        Deliver deliver;
        try {
            ctx.check_cancel();
            deliver = work(ctx);
        } catch (const Cancelled&) {
            outcome = Outcome::Cancelled;
        } catch (const std::exception& e) {
            outcome = Outcome::Failed;
            message = QString::fromStdString(e.what());
        } catch (...) {
            outcome = Outcome::Failed;
            message = QStringLiteral("unknown error");
        }
        QMetaObject::invokeMethod(
            this, [this, id, outcome, message, deliver] { finishJob(id, outcome, message, deliver); },
            Qt::QueuedConnection);
    });
}

void JobRunner::deliverProgress() {
    Progress p;
    {
        std::lock_guard<std::mutex> lock(m_progressMutex);
        p = m_latest;
        m_progressPending = false;
    }
    if (!m_running) return;
    emit progressChanged(p.fraction, QString::fromStdString(p.stage), QString::fromStdString(p.item), p.eta_seconds);
}

void JobRunner::finishJob(quint64 id, Outcome outcome, const QString& message, const Deliver& deliver) {
    if (id != m_jobId || !m_running) return;
    m_future.waitForFinished();  // the worker's last statement posted this call; it is already done
    m_running = false;
    const QString title = m_currentTitle;
    m_currentTitle.clear();
    // A cancel that arrived after the work returned still wins: nothing is delivered.
    if (outcome == Outcome::Ok && m_token.cancelled()) outcome = Outcome::Cancelled;
    switch (outcome) {
    case Outcome::Ok:
        if (deliver) {
            m_delivering = true;
            try {
                deliver();
            } catch (const std::exception& e) {
                m_delivering = false;
                emit jobFailed(title, QString::fromStdString(e.what()));
                break;
            }
            m_delivering = false;
        }
        emit jobFinished(title);
        break;
    case Outcome::Failed:
        emit jobFailed(title, message);
        break;
    case Outcome::Cancelled:
        emit jobCancelled(title);
        break;
    }
    startNext();
}

}  // namespace mixq::ui
