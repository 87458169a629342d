// SPDX-License-Identifier: MIT
// PlanController: the bit-budget state behind the budget panel, frontier plot, grouping tree and heatmap
// labels. It builds one Planner per score table (and per pin set) on its own worker thread, then answers every
// target / preset change at once with a frontier lookup; it also holds the pins and a loaded plan.
#pragma once
#include <QObject>
#include <QString>
#include <QThreadPool>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/plan/plan.h"
#include "core/plan/planner.h"
#include "core/score/score_table.h"

namespace mixq::ui {

/// A uniform plan (every unit in one candidate), drawn as a labelled reference point.
struct ReferencePoint {
    QString label;
    double avg_bits = 0.0;
    double kld = 0.0;
};

class PlanController : public QObject {
    Q_OBJECT
public:
    static constexpr double kGrid = 0.05;  ///< target step, bits/weight
    enum class Mode { Target, Preset, Loaded };

    explicit PlanController(QObject* parent = nullptr);
    ~PlanController() override;  ///< waits for a running build

    /// New scores: builds a Planner (with the current pins that still name a unit) off the GUI thread.
    void setScores(const score::ScoreTable& table, const plan::PlannerOptions& options);
    /// The same without a copy: the planner reads this table (the session's).
    void setScores(std::shared_ptr<const score::ScoreTable> table, const plan::PlannerOptions& options);
    /// Drops scores, planner, plan and (unless `keep_pins`) pins.
    void clear(bool keep_pins = false);
    bool isBusy() const { return m_busy; }
    /// Planners built so far (one per score table or pin change; target and preset changes build none).
    int builds() const { return m_builds; }

    std::shared_ptr<const plan::Planner> planner() const { return m_planner; }
    std::shared_ptr<const score::ScoreTable> table() const { return m_table; }
    const std::vector<ReferencePoint>& references() const { return m_refs; }
    /// Smallest target on the 0.05 grid the planner can meet, and 16.
    double minTarget() const { return m_minTarget; }
    double maxTarget() const { return 16.0; }

    // --- the plan ---
    bool hasPlan() const { return m_hasPlan; }
    const plan::Plan& plan() const { return m_plan; }
    Mode mode() const { return m_mode; }
    double target() const { return m_target; }
    QString presetName() const { return m_preset; }
    QString loadedFrom() const { return m_loadedFrom; }
    /// Optimal plan for "average bits <= bits" (clamped to [minTarget, 16]).
    void setTarget(double bits);
    /// A preset by name (rtn, rtn_last, k_quant_last, k_quant_mixed); "" or "custom" returns to the target.
    void setPreset(const QString& name);
    /// Shows a plan read from plan.json: its formats by unit name, its pins as pins. Throws mixq::Error (one
    /// line) when there are no scores yet or the plan lacks a unit of the table.
    void applyPlan(const plan::Plan& p, const QString& label);

    // --- pins ---
    void setPin(const std::string& unit, const std::string& format);
    void clearPin(const std::string& unit);
    void clearPins();
    const std::map<std::string, std::string>& pins() const { return m_pins; }

signals:
    void busyChanged(bool busy);
    /// A new planner is in place (frontier, target range, references may have changed).
    void plannerChanged();
    /// The current plan changed (or went away: hasPlan() false).
    void planChanged();
    void failed(const QString& message);

private:
    struct Built;
    void rebuild(bool new_table);
    void onBuilt(quint64 gen, const std::shared_ptr<Built>& b);
    void replan();
    void setBusy(bool b);
    void setPins(std::map<std::string, std::string> pins);

    QThreadPool m_pool;
    quint64 m_gen = 0;
    bool m_busy = false;
    int m_builds = 0;

    std::shared_ptr<const score::ScoreTable> m_table;
    plan::PlannerOptions m_options;
    std::shared_ptr<const plan::Planner> m_planner;
    std::vector<ReferencePoint> m_refs;
    double m_minTarget = 0.0;

    std::map<std::string, std::string> m_pins;          ///< wanted pins (unit -> format)
    std::map<std::string, std::string> m_builtPins;     ///< pins of m_planner
    Mode m_mode = Mode::Target;
    double m_target = 5.0;
    QString m_preset;
    QString m_loadedFrom;
    std::map<std::string, std::string> m_loaded;  ///< unit -> format of a loaded plan
    plan::Plan m_plan;
    bool m_hasPlan = false;
};

}  // namespace mixq::ui
