// SPDX-License-Identifier: MIT
// ScoringSettings: what the studio's scoring job uses (device, memory mode, calibration size, candidates,
// method), persisted in QSettings ("MixQ" / "MixQ Studio"): per model under "scoring/models/<content hash>", with
// the default for new models under "scoring"; and the cache key of the settings that change the scores.
#pragma once
#include <QString>
#include <optional>
#include <vector>

#include "core/quant/quant_format.h"
#include "core/score/scorer.h"

namespace mixq::ui {

struct ScoringSettings {
    QString device = "auto";  ///< "auto", "cpu" or "cuda" (see score::score_model_on)
    QString memory = "auto";  ///< "auto", "full", "low_memory", "offload"
    int samples = 32;         ///< calibration sequences
    int seq_len = 128;        ///< tokens per sequence
    QString candidates = "int4-g32,int4-g128,int8-g128";
    QString method = "rtn";   ///< "rtn" or "kquant"

    /// The stored settings, defaults for anything missing or invalid: the default for models without their own.
    static ScoringSettings load();
    void save() const;
    /// The settings a model (by content hash) was last scored or configured with; nullopt when it has none.
    static std::optional<ScoringSettings> load_for(const QString& model_hash);
    void save_for(const QString& model_hash) const;

    /// Throws mixq::Error with one line naming the bad field.
    void validate() const;
    /// Candidates parsed with the method applied (throws like validate()).
    std::vector<quant::QuantFormat> candidate_formats() const;
    /// ScoreOptions for one pass ("fast" or "exact"); on_unit left empty.
    score::ScoreOptions score_options(const std::string& mode) const;

    /// Canonical text of the settings that change the scores (not device or memory mode).
    QString cache_key_text() const;
    /// 16 hex digits (FNV-1a 64 of cache_key_text()).
    QString cache_key() const;
    /// "CPU, N threads" plus why, for the status bar.
    QString device_description() const;

    bool operator==(const ScoringSettings& o) const = default;
};

}  // namespace mixq::ui
