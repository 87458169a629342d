// SPDX-License-Identifier: MIT
// ScoringController: cache lookup, the fast and exact scoring passes as JobRunner jobs, live unit hand-over to the
// heatmap, memory-mode reporting and cache writes.
#include "ui/scoring_controller.h"

#include <QElapsedTimer>

#include "core/common/error.h"
#include "core/io/dtype.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/score_backend.h"
#include "core/score/scorer.h"
#include "core/tokenizer/tokenizer.h"
#include "ui/format_utils.h"
#include "ui/job_runner.h"
#include "ui/job_status_bar.h"
#include "ui/log_panel.h"
#include "ui/main_window.h"
#include "ui/sensitivity_heatmap.h"

namespace mixq::ui {

struct ScoringController::Run {
    quint64 gen = 0;
    std::shared_ptr<const io::Model> model;
    ScoringSettings settings;
    QString name;
    std::shared_ptr<score::CalibrationSet> calib;  ///< made by the first pass on the worker, reused by the second
    QElapsedTimer clock;
};

ScoringController::ScoringController(MainWindow* window)
    : QObject(window), m_window(window), m_settings(ScoringSettings::load()) {
    connect(window->jobs(), &JobRunner::busyChanged, this, [this](bool busy) {
        if (!busy) onRunnerIdle();
    });
}

void ScoringController::setSettings(const ScoringSettings& s, bool persist) {
    m_settings = s;
    m_persistent = persist;
    if (!persist) return;
    s.save();
    if (!m_modelHash.isEmpty()) s.save_for(m_modelHash);
}

void ScoringController::useModel(const QString& model_hash) {
    m_modelHash = model_hash;
    if (!m_persistent) return;
    const auto own = ScoringSettings::load_for(model_hash);
    m_settings = own ? *own : ScoringSettings::load();
}

void ScoringController::log(const QString& line) { m_window->logPanel()->appendLine(line); }

bool ScoringController::current(const std::shared_ptr<Run>& run) const {
    return run && run == m_run && m_generation->load() == run->gen;
}

void ScoringController::scoreModel() {
    std::shared_ptr<const io::Model> model = m_window->model();
    if (!model) return;
    cancel();
    auto run = std::make_shared<Run>();
    run->gen = ++*m_generation;
    run->model = model;
    run->settings = m_settings;
    run->name = QString::fromStdString(model->dir().filename().string());
    run->clock.start();
    m_run = run;
    m_units = static_cast<int>(model->layout().units.size());
    m_window->setDeviceText(JobStatusBar::default_device_text(), m_settings.device_description());

    const std::string hash = model->content_hash();
    // The model keeps the settings it is scored with: changing them for another model does not rescore this one.
    if (m_persistent) m_settings.save_for(QString::fromStdString(hash));
    QString note;
    if (auto table = m_cache.load(hash, m_settings, &note)) {
        log(QString("Scores for %1 from the cache (%2)").arg(run->name, m_cache.pathFor(hash, m_settings)));
        m_window->setScores(*table);
        m_window->heatmap()->setStatusNote(tr("exact scores (cached)"));
        m_run.reset();
        emit scoringFinished(true);
        return;
    }
    if (!note.isEmpty()) log("score cache: ignoring " + note);

    try {
        m_settings.validate();
        if (m_settings.seq_len > model->config().max_position_embeddings)
            fail("settings", "sequence length " + std::to_string(m_settings.seq_len) + " exceeds the model's " +
                                 std::to_string(model->config().max_position_embeddings) + " positions");
    } catch (const Error& e) {
        m_run.reset();
        m_window->reportError(tr("Scoring %1").arg(run->name), QString::fromStdString(e.what()));
        return;
    }
    const int scale_bits = model->weight_dtype() == io::DType::F32 ? 32 : 16;
    m_window->beginScores(m_settings.candidate_formats(), scale_bits);
    m_window->setMemoryMode(tr("memory: %1\u2026").arg(m_settings.memory), tr("chosen when scoring starts"));
    m_state = State::Fast;
    m_passUnits = 0;
    m_window->heatmap()->setStatusNote(tr("fast estimate: 0 of %1 units").arg(m_units));
    emit scoringStarted();
    startPass(run, "fast");
}

void ScoringController::startPass(const std::shared_ptr<Run>& run, const std::string& mode) {
    JobRunner* jobs = m_window->jobs();
    auto gen = m_generation;
    const QString title =
        titlePrefix() + run->name + (mode == "fast" ? tr(" (fast estimate)") : tr(" (exact)"));
    jobs->start(title, [this, jobs, gen, run, mode](const JobContext& ctx) -> JobRunner::Deliver {
        if (gen->load() != run->gen) return {};  // superseded while queued
        try {
            if (!run->calib) {
                ctx.report(0.0, "calibration", "tokenizing the built-in text");
                auto tok = tok::Tokenizer::from_file(run->model->tokenizer_path());
                run->calib = std::make_shared<score::CalibrationSet>(
                    score::load_calibration(*tok, {}, run->settings.samples, run->settings.seq_len));
            }
            score::ScoreOptions opt = run->settings.score_options(mode);
            opt.on_unit = [this, jobs, run, mode](const score::UnitScore& u) {
                jobs->post([this, run, mode, u] { onUnit(run, u, mode); });
            };
            const std::string stage = mode == "fast" ? "fast estimate" : "exact KLD";
            // Memory mode and device arrive typed (ScoreOptions::on_placement), not parsed from log lines.
            opt.on_placement = [this, jobs, run](const std::string& device, const std::string& memory,
                                                 const std::string& reason) {
                jobs->post([this, run, device, memory, reason] {
                    if (!current(run)) return;
                    const MemoryModeText t = memory_mode_text(memory, reason);
                    m_window->setMemoryMode(t.text, t.tooltip);
                    m_window->setDeviceText(device == "cpu" ? JobStatusBar::default_device_text() : QString::fromStdString(device).toUpper(),
                                            tr("scoring on %1; %2").arg(QString::fromStdString(device), QString::fromStdString(reason)));
                });
            };
            JobContext inner(
                ctx.token(), [&ctx, stage](const Progress& p) { ctx.report(p.fraction, stage, p.item); },
                [&ctx](const std::string& line) { ctx.log(line); });
            auto table =
                std::make_shared<const score::ScoreTable>(
                    score::score_model_on(run->settings.device.toStdString(), run->model, *run->calib, opt, inner));
            return [this, run, mode, table] { passDone(run, mode, table); };
        } catch (const Cancelled&) {
            jobs->post([this, run] { passStopped(run, true); });
            throw;
        } catch (...) {
            jobs->post([this, run] { passStopped(run, false); });
            throw;
        }
    });
}

void ScoringController::onUnit(const std::shared_ptr<Run>& run, const score::UnitScore& unit, const std::string& mode) {
    if (!current(run)) return;
    m_window->addUnitScore(unit);
    ++m_passUnits;
    if (mode == "fast")
        m_window->heatmap()->setStatusNote(tr("fast estimate: %1 of %2 units").arg(m_passUnits).arg(m_units));
    else
        m_window->heatmap()->setStatusNote(
            tr("exact: %1 of %2 units (others: fast estimate, provisional)").arg(m_passUnits).arg(m_units));
    emit unitScored(QString::fromStdString(unit.name), QString::fromStdString(mode));
}

void ScoringController::passDone(const std::shared_ptr<Run>& run, const std::string& mode,
                                 const std::shared_ptr<const score::ScoreTable>& table) {
    if (!current(run)) return;
    m_window->setScores(*table);
    if (mode == "fast") {
        log(QString("Fast estimate of %1 units in %2 s").arg(table->units.size()).arg(table->seconds, 0, 'f', 2));
        m_state = State::Exact;
        m_passUnits = 0;
        m_window->heatmap()->setStatusNote(tr("exact: 0 of %1 units (others: fast estimate, provisional)").arg(m_units));
        emit fastPassFinished();
        startPass(run, "exact");
        return;
    }
    m_state = State::Idle;
    m_run.reset();
    m_lastSeconds = run->clock.elapsed() / 1000.0;
    m_window->heatmap()->setStatusNote(tr("exact scores"));
    log(QString("Scored %1 in %2 s (%3 samples \u00d7 %4 tokens, fast estimate then exact KLD)")
            .arg(run->name)
            .arg(m_lastSeconds, 0, 'f', 2)
            .arg(table->calib_samples)
            .arg(table->calib_seq_len));
    try {
        const QString path = m_cache.store(*table, run->settings);
        log("score cache: wrote " + path);
        emit cacheWritten(path);
    } catch (const Error& e) {
        log(QString("warning: score cache not written: %1").arg(e.what()));
    }
    emit scoringFinished(false);
}

void ScoringController::stop(const QString& note) {
    m_state = State::Idle;
    m_run.reset();
    ++*m_generation;
    m_window->heatmap()->setStatusNote(note);
    emit scoringCancelled();
}

void ScoringController::passStopped(const std::shared_ptr<Run>& run, bool cancelled) {
    if (!current(run) || !isScoring()) return;
    const bool partial = m_state == State::Exact;
    if (cancelled)
        stop(partial ? tr("scoring cancelled: fast estimates shown (provisional)") : tr("scoring cancelled"));
    else
        stop(tr("scoring failed"));
}

void ScoringController::onRunnerIdle() {
    // A pass dropped from the queue (the runner was cancelled while it waited) never reports: end the run here.
    if (isScoring()) stop(tr("scoring cancelled"));
}

void ScoringController::cancel() {
    if (!isScoring()) {
        ++*m_generation;
        return;
    }
    const bool running = m_window->jobs()->currentTitle().startsWith(titlePrefix());
    stop(tr("scoring cancelled"));
    if (running) m_window->jobs()->cancel();
}

void ScoringController::supersede() {
    ++*m_generation;  // queued passes become no-ops
    if (!isScoring()) {
        m_run.reset();
        return;
    }
    const bool running = m_window->jobs()->currentTitle().startsWith(titlePrefix());
    m_state = State::Idle;
    m_run.reset();
    m_window->heatmap()->setStatusNote({});
    emit scoringCancelled();
    if (running) m_window->jobs()->cancel();
}

}  // namespace mixq::ui
