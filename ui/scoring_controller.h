// SPDX-License-Identifier: MIT
// ScoringController: scores the main window's model on its JobRunner as soon as the model is open: from the
// score cache when it holds this model + settings, else a fast-mode pass (heatmap fills unit by unit) followed
// by an exact pass (replacing the estimates unit by unit), then caches the exact table.
#pragma once
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "core/score/score_table.h"
#include "ui/score_cache.h"
#include "ui/scoring_settings.h"

namespace mixq::ui {

class MainWindow;

class ScoringController : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Fast, Exact };

    explicit ScoringController(MainWindow* window);

    const ScoringSettings& settings() const { return m_settings; }
    /// Uses new settings; does not rescore by itself. With `persist` they are saved for the open model and as the
    /// default for new models; without it they are a session override used for every model (tests, scripts).
    void setSettings(const ScoringSettings& s, bool persist = true);
    /// A model was opened: its own stored settings (the ones it was last scored or configured with), else the
    /// default for new models. A session override stays.
    void useModel(const QString& model_hash);
    ScoreCache& cache() { return m_cache; }
    const ScoreCache& cache() const { return m_cache; }
    /// Score each model as it opens (on by default).
    void setAutoScore(bool on) { m_auto = on; }
    bool autoScore() const { return m_auto; }

    /// Scores the open model (cache first). Supersedes any scoring of this controller still queued or running.
    void scoreModel();
    /// Stops this controller's scoring: the running scoring job is cancelled, queued passes become no-ops.
    void cancel();
    /// Scores came from elsewhere (a scores.json for this model): this controller's scoring stops quietly.
    void supersede();
    State state() const { return m_state; }
    bool isScoring() const { return m_state != State::Idle; }
    /// Wall time of the last completed scoring (both passes, tokenizing included), or -1.
    double lastSeconds() const { return m_lastSeconds; }

    static QString titlePrefix() { return QStringLiteral("Scoring "); }

signals:
    void scoringStarted();
    /// One unit's scores reached the heatmap; mode "fast" or "exact".
    void unitScored(const QString& unit, const QString& mode);
    void fastPassFinished();
    /// fromCache: true when the table came from the cache (no scoring job ran).
    void scoringFinished(bool fromCache);
    void scoringCancelled();
    void cacheWritten(const QString& path);

private:
    struct Run;
    void startPass(const std::shared_ptr<Run>& run, const std::string& mode);
    void passDone(const std::shared_ptr<Run>& run, const std::string& mode,
                  const std::shared_ptr<const score::ScoreTable>& table);
    void onUnit(const std::shared_ptr<Run>& run, const score::UnitScore& unit, const std::string& mode);
    void passStopped(const std::shared_ptr<Run>& run, bool cancelled);
    void onRunnerIdle();
    bool current(const std::shared_ptr<Run>& run) const;
    void stop(const QString& note);
    void log(const QString& line);

    MainWindow* m_window;
    ScoringSettings m_settings;
    bool m_persistent = true;  ///< settings from QSettings (per model), not a session override
    QString m_modelHash;
    ScoreCache m_cache;
    bool m_auto = true;
    State m_state = State::Idle;
    std::shared_ptr<Run> m_run;
    std::shared_ptr<std::atomic<quint64>> m_generation = std::make_shared<std::atomic<quint64>>(0);
    int m_units = 0;       ///< units of the model being scored
    int m_passUnits = 0;   ///< units delivered by the running pass
    double m_lastSeconds = -1.0;
};

}  // namespace mixq::ui
