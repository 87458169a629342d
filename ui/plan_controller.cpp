// SPDX-License-Identifier: MIT
// PlanController: asynchronous Planner builds (generation-checked), uniform reference points, target / preset /
// loaded-plan modes and pins.
#include "ui/plan_controller.h"

#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <cmath>

#include "core/common/error.h"
#include "core/plan/presets.h"

namespace mixq::ui {

struct PlanController::Built {
    std::shared_ptr<const plan::Planner> planner;
    std::vector<ReferencePoint> refs;
    bool has_refs = false;
    QString error;
};

namespace {
/// Every unit in candidate #c of the table: exact storage from the shapes, KLD summed from the scores.
std::vector<ReferencePoint> uniform_references(const score::ScoreTable& t) {
    std::vector<ReferencePoint> out;
    for (size_t c = 0; c < t.candidates.size(); ++c) {
        if (t.candidates[c].is_float()) continue;
        uint64_t bits = 0;
        int64_t weights = 0;
        double kld = 0.0;
        for (const auto& u : t.units) {
            bits += plan::unit_storage_bits(u.shapes, t.candidates[c], t.scale_bits);
            weights += u.numel();
            if (c < u.candidates.size()) kld += u.candidates[c].kld;
        }
        if (weights <= 0) continue;
        out.push_back({QString::fromStdString(t.candidates[c].name()), double(bits) / double(weights), kld});
    }
    return out;
}
}  // namespace

PlanController::PlanController(QObject* parent) : QObject(parent) { m_pool.setMaxThreadCount(1); }

PlanController::~PlanController() {
    ++m_gen;
    m_pool.waitForDone();
}

void PlanController::setBusy(bool b) {
    if (b == m_busy) return;
    m_busy = b;
    emit busyChanged(b);
}

void PlanController::clear(bool keep_pins) {
    ++m_gen;
    m_table.reset();
    m_planner.reset();
    m_refs.clear();
    if (!keep_pins) m_pins.clear();
    m_builtPins.clear();
    m_loaded.clear();
    m_loadedFrom.clear();
    if (m_mode == Mode::Loaded) m_mode = Mode::Target;
    m_minTarget = 0.0;
    m_hasPlan = false;
    m_plan = plan::Plan{};
    setBusy(false);
    emit plannerChanged();
    emit planChanged();
}

void PlanController::setScores(const score::ScoreTable& table, const plan::PlannerOptions& options) {
    setScores(std::make_shared<const score::ScoreTable>(table), options);
}

void PlanController::setScores(std::shared_ptr<const score::ScoreTable> shared, const plan::PlannerOptions& options) {
    m_table = std::move(shared);
    const score::ScoreTable& table = *m_table;
    m_options = options;
    m_options.pins.clear();
    for (auto it = m_pins.begin(); it != m_pins.end();)
        it = table.find(it->first) ? std::next(it) : m_pins.erase(it);
    rebuild(true);
}

void PlanController::rebuild(bool new_table) {
    if (!m_table) return;
    const quint64 gen = ++m_gen;
    setBusy(true);
    auto table = m_table;
    plan::PlannerOptions opts = m_options;
    const auto pins = m_pins;
    auto result = std::make_shared<Built>();
    (void)QtConcurrent::run(&m_pool, [this, gen, table, opts, pins, new_table, result]() mutable {
        try {
            for (const auto& [unit, format] : pins) opts.pins.push_back({unit, quant::QuantFormat::parse(format)});
            result->planner = std::make_shared<const plan::Planner>(*table, opts);
            if (new_table) {
                result->refs = uniform_references(*table);
                result->has_refs = true;
            }
        } catch (const std::exception& e) {
            result->error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(this, [this, gen, result] { onBuilt(gen, result); }, Qt::QueuedConnection);
    });
}

void PlanController::onBuilt(quint64 gen, const std::shared_ptr<Built>& b) {
    if (gen != m_gen) return;  // a newer build is on its way
    if (!b->error.isEmpty()) {
        m_pins = m_builtPins;  // the rejected pin goes away
        setBusy(false);
        emit failed(b->error);
        return;
    }
    m_planner = b->planner;
    ++m_builds;
    m_builtPins = m_pins;
    if (b->has_refs) m_refs = b->refs;
    int k = static_cast<int>(std::ceil(m_planner->min_avg_bits() / kGrid - 1e-9));
    const uint64_t min_bits = m_planner->frontier().front().total_bits;
    while (k < 320 && m_planner->budget_bits(k * kGrid) < min_bits) ++k;
    m_minTarget = std::min(k, 320) / 20.0;
    if (m_mode == Mode::Target) m_target = std::clamp(m_target, m_minTarget, maxTarget());
    emit plannerChanged();
    replan();
    setBusy(false);
}

void PlanController::replan() {
    if (!m_planner) {
        m_hasPlan = false;
        emit planChanged();
        return;
    }
    try {
        switch (m_mode) {
            case Mode::Target:
                m_plan = m_planner->plan_for_target(m_target);
                break;
            case Mode::Preset:
                m_plan = m_planner->plan_preset(plan::parse_preset(m_preset.toStdString()));
                break;
            case Mode::Loaded: {
                std::vector<quant::QuantFormat> formats;
                for (const auto& u : m_planner->table().units) {
                    auto it = m_loaded.find(u.name);
                    formats.push_back(it == m_loaded.end() ? quant::QuantFormat::float16()
                                                           : quant::QuantFormat::parse(it->second));
                }
                m_plan = m_planner->plan_formats(formats, plan::PlanSource::Import);
                break;
            }
        }
        m_hasPlan = true;
    } catch (const Error& e) {
        m_hasPlan = false;
        emit failed(QString::fromStdString(e.what()));
    }
    emit planChanged();
}

void PlanController::setTarget(double bits) {
    if (!std::isfinite(bits)) return;
    m_mode = Mode::Target;
    m_target = m_planner ? std::clamp(bits, m_minTarget, maxTarget()) : bits;
    replan();
}

void PlanController::setPreset(const QString& name) {
    if (name.isEmpty() || name == "custom") {
        setTarget(m_target);
        return;
    }
    plan::parse_preset(name.toStdString());  // throws for an unknown name
    m_mode = Mode::Preset;
    m_preset = name;
    replan();
}

void PlanController::applyPlan(const plan::Plan& p, const QString& label) {
    const std::string where = label.toStdString();
    if (!m_table) fail(where, "no scores yet; wait for scoring to finish, then load the plan");
    std::map<std::string, std::string> formats;
    for (const auto& u : m_table->units) {
        const plan::PlannedUnit* pu = p.find(u.name);
        if (!pu) fail(where, "the plan has no unit '" + u.name + "'");
        formats[u.name] = pu->format.name();
    }
    m_loaded = std::move(formats);
    m_loadedFrom = label;
    m_mode = Mode::Loaded;
    if (p.pins != m_pins) {
        setPins(p.pins);
    } else {
        replan();
    }
}

void PlanController::setPins(std::map<std::string, std::string> pins) {
    m_pins = std::move(pins);
    rebuild(false);
}

void PlanController::setPin(const std::string& unit, const std::string& format) {
    if (!m_table) return;
    auto pins = m_pins;
    pins[unit] = format;
    setPins(std::move(pins));
}

void PlanController::clearPin(const std::string& unit) {
    auto pins = m_pins;
    if (!pins.erase(unit)) return;
    setPins(std::move(pins));
}

void PlanController::clearPins() {
    if (m_pins.empty()) return;
    setPins({});
}

}  // namespace mixq::ui
