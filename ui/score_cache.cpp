// SPDX-License-Identifier: MIT
// ScoreCache: cache file naming, validated loading and atomic storing of score tables.
#include "ui/score_cache.h"

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#include "core/common/error.h"

namespace mixq::ui {

ScoreCache::ScoreCache(QString root) : m_root(std::move(root)) {}

QString ScoreCache::root() const {
    if (!m_root.isEmpty()) return m_root;
    return QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + "/scores";
}

QString ScoreCache::pathFor(const std::string& model_hash, const ScoringSettings& settings) const {
    return root() + "/" + QString::fromStdString(model_hash) + "-" + settings.cache_key() + ".json";
}

std::optional<score::ScoreTable> ScoreCache::load(const std::string& model_hash, const ScoringSettings& settings,
                                                  QString* note) const {
    auto say = [note](const QString& s) {
        if (note) *note = s;
    };
    const QString path = pathFor(model_hash, settings);
    if (!QFileInfo::exists(path)) {
        say({});
        return std::nullopt;
    }
    try {
        score::ScoreTable t = score::load_score_table(path.toStdString());
        if (t.model_hash != model_hash) {
            say(QString("%1: cached scores are for model %2").arg(path, QString::fromStdString(t.model_hash)));
            return std::nullopt;
        }
        if (t.candidates != settings.candidate_formats() || t.mode != "exact" || t.calib_samples != settings.samples ||
            t.calib_seq_len != settings.seq_len) {
            say(QString("%1: cached scores were made with other settings").arg(path));
            return std::nullopt;
        }
        return t;
    } catch (const Error& e) {
        say(QString::fromStdString(e.what()));
        return std::nullopt;
    }
}

QString ScoreCache::store(const score::ScoreTable& table, const ScoringSettings& settings) const {
    const QString path = pathFor(table.model_hash, settings);
    if (!QDir().mkpath(root())) fail(root().toStdString(), "cannot create the score cache folder");
    score::save_score_table(table, path.toStdString());
    return path;
}

}  // namespace mixq::ui
