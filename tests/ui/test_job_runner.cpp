// SPDX-License-Identifier: MIT
// JobRunner: results and progress arrive on the GUI thread, errors carry mixq::Error's message, a long job that
// checks cancel ends as cancelled without delivering, queued jobs run in order and busy spans all of them.
#include <QSignalSpy>
#include <QThread>
#include <atomic>
#include <chrono>
#include <thread>

#include "test_support.h"
#include "ui/job_runner.h"

using namespace mixq;
using ui::JobRunner;

namespace {
/// A job that spins until cancelled, reporting progress that creeps towards 1.
JobRunner::Work spinning_job(std::atomic<int>* iterations = nullptr) {
    return [iterations](const JobContext& ctx) -> JobRunner::Deliver {
        for (int i = 0;; ++i) {
            ctx.report(1.0 - 1.0 / (1.0 + i * 0.01), "spinning", std::to_string(i));
            if (iterations) iterations->store(i);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    };
}
}  // namespace

class TestJobRunner : public QObject {
    Q_OBJECT
private slots:
    void result_is_delivered_on_gui_thread() {
        JobRunner r;
        QSignalSpy done(&r, &JobRunner::jobFinished);
        QSignalSpy busy(&r, &JobRunner::busyChanged);
        const int n = 100000;
        long long delivered = -1;
        bool worker_off_gui = false, deliver_on_gui = false;
        QThread* gui = QThread::currentThread();
        r.start("sum", [&, n](const JobContext& ctx) -> JobRunner::Deliver {
            worker_off_gui = QThread::currentThread() != gui;
            long long s = 0;
            for (int i = 1; i <= n; ++i) s += i;
            ctx.report(1.0, "sum");
            return [&, s] {
                deliver_on_gui = QThread::currentThread() == gui;
                delivered = s;
            };
        });
        QVERIFY(r.isBusy());
        QTRY_COMPARE(done.count(), 1);
        QCOMPARE(delivered, (long long)n * (n + 1) / 2);  // closed form
        QVERIFY(worker_off_gui);
        QVERIFY(deliver_on_gui);
        QVERIFY(!r.isBusy());
        QCOMPARE(busy.count(), 2);
        QCOMPARE(busy.at(0).at(0).toBool(), true);
        QCOMPARE(busy.at(1).at(0).toBool(), false);
    }

    void error_message_is_reported() {
        JobRunner r;
        QSignalSpy failed(&r, &JobRunner::jobFailed);
        QSignalSpy done(&r, &JobRunner::jobFinished);
        r.start("bad", [](const JobContext&) -> JobRunner::Deliver { fail("config.json", "missing hidden_size"); });
        QTRY_COMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(0).toString(), QString("bad"));
        QCOMPARE(failed.at(0).at(1).toString(), QString("config.json: missing hidden_size"));
        QCOMPARE(done.count(), 0);
        QVERIFY(!r.isBusy());
    }

    void cancel_ends_long_job_as_cancelled() {
        JobRunner r;
        QSignalSpy cancelled(&r, &JobRunner::jobCancelled);
        QSignalSpy done(&r, &JobRunner::jobFinished);
        QSignalSpy progress(&r, &JobRunner::progressChanged);
        std::atomic<int> iterations{0};
        bool gui_progress = true;
        QThread* gui = QThread::currentThread();
        connect(&r, &JobRunner::progressChanged, this, [&] { gui_progress &= QThread::currentThread() == gui; });
        r.start("spin", spinning_job(&iterations));
        QTRY_VERIFY(iterations.load() > 20);  // the worker is running and reporting
        QTRY_VERIFY(progress.count() > 2);
        r.cancel();
        QTRY_COMPARE(cancelled.count(), 1);
        QCOMPARE(cancelled.at(0).at(0).toString(), QString("spin"));
        QCOMPARE(done.count(), 0);
        QVERIFY(!r.isBusy());
        QVERIFY(gui_progress);
        // Fractions are in [0, 1] and never go back; ETA is known once past 1 %.
        double last = -1;
        for (const auto& args : progress) {
            const double f = args.at(0).toDouble();
            QVERIFY(f >= 0 && f <= 1);
            QVERIFY(f >= last);
            last = f;
            if (f > 0.02) QVERIFY(args.at(3).toDouble() >= 0);
        }
        // The worker stopped: the iteration count no longer moves.
        const int stopped = iterations.load();
        QTest::qWait(30);
        QCOMPARE(iterations.load(), stopped);
    }

    void cancel_after_work_returned_still_drops_the_result() {
        JobRunner r;
        QSignalSpy cancelled(&r, &JobRunner::jobCancelled);
        bool delivered = false;
        r.start("quick", [&](const JobContext&) -> JobRunner::Deliver { return [&] { delivered = true; }; });
        r.cancel();  // before the queued delivery runs
        QTRY_COMPARE(cancelled.count(), 1);
        QVERIFY(!delivered);
    }

    void queued_jobs_run_in_order_and_cancel_drops_the_queue() {
        JobRunner r;
        QSignalSpy busy(&r, &JobRunner::busyChanged);
        QStringList order;
        connect(&r, &JobRunner::jobFinished, this, [&](const QString& t) { order << t; });
        for (const char* t : {"a", "b", "c"})
            r.start(t, [t](const JobContext&) -> JobRunner::Deliver {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                return {};
            });
        QTRY_VERIFY(!r.isBusy());
        QCOMPARE(order, QStringList({"a", "b", "c"}));
        QCOMPARE(busy.count(), 2);  // busy once across the whole queue

        QSignalSpy started(&r, &JobRunner::jobStarted);
        QSignalSpy cancelled(&r, &JobRunner::jobCancelled);
        r.start("spin", spinning_job());
        r.start("never", [](const JobContext&) -> JobRunner::Deliver { return {}; });
        QTRY_VERIFY(started.count() == 1);
        r.cancel();
        QTRY_VERIFY(!r.isBusy());
        QCOMPARE(cancelled.count(), 1);
        QCOMPARE(started.count(), 1);  // "never" was dropped
    }

    void deliver_may_queue_the_next_step() {
        // A two-step pipeline (the scorer's fast then exact pass): the first step's Deliver queues the second.
        // The runner stays busy across the hand-over, runs one job at a time and goes idle once, at the end.
        JobRunner r;
        QSignalSpy busy(&r, &JobRunner::busyChanged);
        QSignalSpy done(&r, &JobRunner::jobFinished);
        std::atomic<int> running{0};
        std::atomic<int> max_running{0};
        QStringList order;
        auto step = [&](int v) {
            return [&, v](const JobContext&) -> JobRunner::Deliver {
                max_running = std::max(max_running.load(), ++running);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                --running;
                return [&, v] { order << QString::number(v); };
            };
        };
        r.start("first", [&, step](const JobContext& ctx) -> JobRunner::Deliver {
            step(1)(ctx);
            return [&, step] {
                order << "1";
                r.start("second", step(2));
                QVERIFY(r.isBusy());
            };
        });
        QTRY_COMPARE(done.count(), 2);
        QTRY_VERIFY(!r.isBusy());
        QCOMPARE(order, QStringList({"1", "2"}));
        QCOMPARE(max_running.load(), 1);
        QCOMPARE(busy.count(), 2);  // true once, false once
        QCOMPARE(busy.at(1).at(0).toBool(), false);
    }

    void post_runs_on_gui_thread_and_logs_arrive() {
        JobRunner r;
        QStringList seen;
        QSignalSpy logs(&r, &JobRunner::logLine);
        QThread* gui = QThread::currentThread();
        r.start("feeder", [&r, &seen, gui](const JobContext& ctx) -> JobRunner::Deliver {
            for (int i = 0; i < 5; ++i) {
                r.post([&seen, gui, i] {
                    if (QThread::currentThread() == gui) seen << QString::number(i);
                });
                ctx.log("unit " + std::to_string(i));
            }
            return {};
        });
        QTRY_VERIFY(!r.isBusy());
        QCOMPARE(seen, QStringList({"0", "1", "2", "3", "4"}));
        QCOMPARE(logs.count(), 5);
        QCOMPARE(logs.at(4).at(0).toString(), QString("unit 4"));
    }

    void destroying_a_busy_runner_cancels_and_joins() {
        std::atomic<int> iterations{0};
        {
            JobRunner r;
            r.start("spin", spinning_job(&iterations));
            QTRY_VERIFY(iterations.load() > 5);
        }  // must return (not hang) and leave no running worker
        const int stopped = iterations.load();
        QTest::qWait(20);
        QCOMPARE(iterations.load(), stopped);
    }
};

QTEST_MAIN(TestJobRunner)
#include "test_job_runner.moc"
