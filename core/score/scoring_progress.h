// SPDX-License-Identifier: MIT
// ScoringProgress: a scorer's progress in work units (one unit ≈ one layer run on one calibration sequence), the
// item being worked on, and the cancel point: every step() reports and throws mixq::Cancelled when cancelled.
#pragma once
#include <string>

#include "core/common/job.h"

namespace mixq::score {

class ScoringProgress {
public:
    explicit ScoringProgress(const JobContext& job) : m_job(job) {}
    /// The whole job's work units (> 0); set once before the first step.
    void set_total(double work) { m_total = work > 0 ? work : 1; }
    /// What the next steps work on ("layers.3.qkv int4-g32", "reference pass, layer 2").
    void set_item(std::string item) { m_item = std::move(item); }
    /// `work` units done; reports the fraction (monotone, at most 1) and checks for cancel.
    void step(double work = 1) {
        m_done += work;
        m_job.report(m_done < m_total ? m_done / m_total : 1.0, "scoring", m_item);
    }
    /// The end: reports 1.0 ("done").
    void finish() { m_job.report(1.0, "scoring", "done"); }
    double done() const { return m_done; }
    double total() const { return m_total; }

private:
    const JobContext& m_job;
    double m_total = 1, m_done = 0;
    std::string m_item;
};

}  // namespace mixq::score
