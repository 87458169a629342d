// SPDX-License-Identifier: MIT
// ScoreCache: finished score tables kept per model content hash and scoring settings under
// QStandardPaths::CacheLocation/scores/<hash>-<settings key>.json (written atomically), so reopening a model
// with the same settings needs no scoring.
#pragma once
#include <QString>
#include <optional>
#include <string>

#include "core/score/score_table.h"
#include "ui/scoring_settings.h"

namespace mixq::ui {

class ScoreCache {
public:
    /// `root` "" = <CacheLocation>/scores.
    explicit ScoreCache(QString root = {});
    void setRoot(const QString& root) { m_root = root; }
    QString root() const;

    QString pathFor(const std::string& model_hash, const ScoringSettings& settings) const;
    /// The cached table for this model and settings, or nullopt when there is none or it is unusable (then
    /// `note`, when given, says why: unreadable, another model's hash, other candidates).
    std::optional<score::ScoreTable> load(const std::string& model_hash, const ScoringSettings& settings,
                                          QString* note = nullptr) const;
    /// Writes the table (atomically); returns the path. Throws mixq::Error on I/O failure.
    QString store(const score::ScoreTable& table, const ScoringSettings& settings) const;

private:
    QString m_root;
};

}  // namespace mixq::ui
