// SPDX-License-Identifier: MIT
// JobRunner: runs long work (model loading, scoring, export, ...) one job at a time on a worker thread, with
// progress, log lines, cooperative cancel (core/common/job.h) and results delivered on the GUI thread.
#pragma once
#include <QFuture>
#include <QObject>
#include <QString>
#include <QThreadPool>
#include <deque>
#include <functional>
#include <mutex>

#include "core/common/job.h"

namespace mixq::ui {

class JobRunner : public QObject {
    Q_OBJECT
public:
    /// Runs on the GUI thread after the work succeeded (the job's result handed over); may be empty.
    using Deliver = std::function<void()>;
    /// Runs on the worker thread; reports through `ctx` and throws mixq::Error / mixq::Cancelled.
    using Work = std::function<Deliver(const JobContext& ctx)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;  ///< cancels and waits for the running job

    /// Queues a job; it starts at once when idle, else after the jobs before it (a Deliver may queue the next
    /// step). The runner is busy from here until its queue is empty.
    void start(const QString& title, Work work);
    /// Cancels the running job and drops the queued ones.
    void cancel();
    bool isBusy() const { return m_busy; }
    QString currentTitle() const { return m_currentTitle; }

    /// Thread-safe: runs `fn` on the GUI thread later (e.g. a scorer handing over each unit as it is scored).
    void post(std::function<void()> fn);

signals:
    void busyChanged(bool busy);
    void jobStarted(const QString& title);
    /// fraction 0..1, eta in seconds (< 0 when unknown). Coalesced: at most one pending update at a time.
    void progressChanged(double fraction, const QString& stage, const QString& item, double eta_seconds);
    void logLine(const QString& line);
    void jobFinished(const QString& title);
    void jobFailed(const QString& title, const QString& message);
    void jobCancelled(const QString& title);

private:
    struct Pending {
        QString title;
        Work work;
    };
    enum class Outcome { Ok, Failed, Cancelled };
    void startNext();
    void finishJob(quint64 id, Outcome outcome, const QString& message, const Deliver& deliver);
    void deliverProgress();
    void setBusy(bool busy);

    QThreadPool m_pool;
    std::deque<Pending> m_queue;
    QFuture<void> m_future;
    CancelToken m_token;
    quint64 m_jobId = 0;
    bool m_running = false;
    bool m_delivering = false;  ///< inside a job's Deliver (jobs it queues start after it returns)
    bool m_busy = false;
    QString m_currentTitle;

    std::mutex m_progressMutex;
    Progress m_latest;
    bool m_progressPending = false;
};

}  // namespace mixq::ui
