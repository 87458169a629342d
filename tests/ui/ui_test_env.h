// SPDX-License-Identifier: MIT
// Test isolation for GUI tests: QSettings, the score cache (XDG_CACHE_HOME) and the results store (XDG_DATA_HOME) in
// scratch folders, and small scoring settings so that scoring the demo model stays quick.
#pragma once
#include <QSettings>
#include <QString>
#include <string>

#include "test_support.h"
#include "ui/scoring_settings.h"

namespace mixq_test {

/// Points QSettings and QStandardPaths' cache at fresh scratch folders named after `name`.
inline void isolate_user_state(const std::string& name) {
    const QString settings = QString::fromStdString(scratch(name + "_settings").string());
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settings);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settings);
    qputenv("XDG_CACHE_HOME", QByteArray::fromStdString(scratch(name + "_cache").string()));
    qputenv("XDG_DATA_HOME", QByteArray::fromStdString(scratch(name + "_data").string()));  // results store
}

/// 4 calibration sequences of 32 tokens, default candidates.
inline mixq::ui::ScoringSettings small_settings(int samples = 4, int seq_len = 32) {
    mixq::ui::ScoringSettings s;
    s.samples = samples;
    s.seq_len = seq_len;
    return s;
}

}  // namespace mixq_test
