// SPDX-License-Identifier: MIT
// ScoringSettings: QSettings persistence, validation, ScoreOptions and the cache key.
#include "ui/scoring_settings.h"

#include <QSettings>
#include <QStringList>

#include "core/backend/compute_backend.h"
#include "core/common/error.h"
#include "core/score/memory_mode.h"
#include "ui/job_status_bar.h"

namespace mixq::ui {

namespace {
QSettings settings() { return QSettings(QStringLiteral("MixQ"), QStringLiteral("MixQ Studio")); }
const QStringList kDevices{"auto", "cpu", "cuda"};
const QStringList kMemory{"auto", "full", "low_memory", "offload", "multi_gpu"};
const QStringList kMethods{"rtn", "kquant"};
}  // namespace

namespace {
ScoringSettings read_group(QSettings& s);
void write_group(QSettings& s, const ScoringSettings& v);
}  // namespace

ScoringSettings ScoringSettings::load() {
    QSettings s = settings();
    s.beginGroup("scoring");
    return read_group(s);
}

void ScoringSettings::save() const {
    QSettings s = settings();
    s.beginGroup("scoring");
    write_group(s, *this);
}

std::optional<ScoringSettings> ScoringSettings::load_for(const QString& model_hash) {
    QSettings s = settings();
    s.beginGroup("scoring/models/" + model_hash);
    if (!s.contains("candidates")) return std::nullopt;
    return read_group(s);
}

void ScoringSettings::save_for(const QString& model_hash) const {
    QSettings s = settings();
    s.beginGroup("scoring/models/" + model_hash);
    write_group(s, *this);
}

namespace {
ScoringSettings read_group(QSettings& s) {
    ScoringSettings d;
    ScoringSettings r;
    r.device = s.value("device", d.device).toString();
    r.memory = s.value("memory", d.memory).toString();
    r.samples = s.value("samples", d.samples).toInt();
    r.seq_len = s.value("seqLen", d.seq_len).toInt();
    r.candidates = s.value("candidates", d.candidates).toString();
    r.method = s.value("method", d.method).toString();
    // Field by field: one bad stored value falls back alone.
    if (!kDevices.contains(r.device)) r.device = d.device;
    if (!kMemory.contains(r.memory)) r.memory = d.memory;
    if (r.samples < 1 || r.samples > 4096) r.samples = d.samples;
    if (r.seq_len < 2 || r.seq_len > 65536) r.seq_len = d.seq_len;
    if (!kMethods.contains(r.method)) r.method = d.method;
    try {
        r.candidate_formats();
    } catch (const Error&) {
        r.candidates = d.candidates;
    }
    return r;
}

void write_group(QSettings& s, const ScoringSettings& v) {
    s.setValue("device", v.device);
    s.setValue("memory", v.memory);
    s.setValue("samples", v.samples);
    s.setValue("seqLen", v.seq_len);
    s.setValue("candidates", v.candidates);
    s.setValue("method", v.method);
}
}  // namespace

void ScoringSettings::validate() const {
    if (!kDevices.contains(device)) fail("settings", "device must be auto, cpu or cuda, got '" + device.toStdString() + "'");
    if (!kMemory.contains(memory))
        fail("settings", "memory mode must be auto, full, low_memory, offload or multi_gpu, got '" + memory.toStdString() + "'");
    if (samples < 1 || samples > 4096) fail("settings", "calibration samples must be 1..4096");
    if (seq_len < 2 || seq_len > 65536) fail("settings", "sequence length must be 2..65536");
    if (!kMethods.contains(method)) fail("settings", "method must be rtn or kquant, got '" + method.toStdString() + "'");
    candidate_formats();
}

std::vector<quant::QuantFormat> ScoringSettings::candidate_formats() const {
    const quant::Method m = method == "kquant" ? quant::Method::KQuant : quant::Method::RTN;
    try {
        return score::parse_candidates(candidates.simplified().remove(' ').toStdString(), m);
    } catch (const Error& e) {
        fail("settings", std::string("candidates: ") + e.what());
    }
}

score::ScoreOptions ScoringSettings::score_options(const std::string& mode) const {
    validate();
    score::ScoreOptions o;
    o.candidates = candidate_formats();
    o.mode = mode;
    o.memory = score::parse_memory_mode(memory.toStdString());
    return o;
}

QString ScoringSettings::cache_key_text() const {
    QStringList names;
    for (const auto& f : candidate_formats()) names << QString::fromStdString(f.name());
    return QString("v1|candidates=%1|samples=%2|seq_len=%3|calib=builtin|rotation=none")
        .arg(names.join(','))
        .arg(samples)
        .arg(seq_len);
}

QString ScoringSettings::cache_key() const {
    const QByteArray text = cache_key_text().toUtf8();
    quint64 h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;  // FNV prime
    }
    return QString("%1").arg(h, 16, 16, QChar('0'));
}

QString ScoringSettings::device_description() const {
    if (device == "cpu") return QObject::tr("device: cpu (chosen in Settings)");
    std::string why;
    const bool usable = backend::accelerator_usable(&why);
    if (device == "cuda")
        return usable ? QObject::tr("device: cuda (chosen in Settings)")
                      : QObject::tr("device: cuda unavailable (%1)").arg(QString::fromStdString(why));
    return usable ? QObject::tr("device: auto \u2192 cuda")
                  : QObject::tr("device: auto \u2192 cpu (%1)").arg(QString::fromStdString(why));
}

}  // namespace mixq::ui
