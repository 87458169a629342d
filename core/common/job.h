// SPDX-License-Identifier: MIT
// Progress reporting and cooperative cancellation for long core jobs (loading, scoring, export, evaluation).
// A JobContext is passed by reference into every long call; the call checks cancel between small units of work.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/common/error.h"

namespace mixq {

/// Shared cancel flag; copies share state, so the GUI can hold one copy and the worker another.
class CancelToken {
public:
    CancelToken() : m_flag(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() const { m_flag->store(true, std::memory_order_relaxed); }
    bool cancelled() const { return m_flag->load(std::memory_order_relaxed); }
    /// Throws mixq::Cancelled when the token was set.
    void check() const {
        if (cancelled()) throw Cancelled();
    }

private:
    std::shared_ptr<std::atomic<bool>> m_flag;
};

struct Progress {
    double fraction = 0.0;      ///< 0..1 over the whole job
    std::string stage;          ///< e.g. "scoring", "export"
    std::string item;           ///< current unit / tensor / task
    double eta_seconds = -1.0;  ///< estimated seconds left; < 0 when unknown
};

using ProgressFn = std::function<void(const Progress&)>;
using LogFn = std::function<void(const std::string&)>;

/// Bundles cancel, progress and log sinks. report() estimates the ETA from elapsed time and fraction.
class JobContext {
public:
    JobContext() : m_start(std::chrono::steady_clock::now()) {}
    JobContext(CancelToken token, ProgressFn progress, LogFn log = {})
        : m_token(std::move(token)), m_progress(std::move(progress)), m_log(std::move(log)),
          m_start(std::chrono::steady_clock::now()) {}

    const CancelToken& token() const { return m_token; }
    void check_cancel() const { m_token.check(); }

    void report(double fraction, const std::string& stage, const std::string& item = {}) const {
        m_token.check();
        if (!m_progress) return;
        Progress p;
        p.fraction = fraction < 0 ? 0 : (fraction > 1 ? 1 : fraction);
        p.stage = stage;
        p.item = item;
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
        if (p.fraction > 0.01) p.eta_seconds = elapsed * (1.0 - p.fraction) / p.fraction;
        m_progress(p);
    }
    void log(const std::string& line) const {
        if (m_log) m_log(line);
    }

private:
    CancelToken m_token;
    ProgressFn m_progress;
    LogFn m_log;
    std::chrono::steady_clock::time_point m_start;
};

/// A context that reports nothing and is never cancelled; for tests and quick calls.
inline JobContext& null_job() {
    static JobContext ctx;
    return ctx;
}

}  // namespace mixq
