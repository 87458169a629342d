// SPDX-License-Identifier: MIT
// RecentModels: the File > Recent Models list kept in QSettings (organization "MixQ", application
// "MixQ Studio", key "recentModels"), newest first, at most kMax entries.
#pragma once
#include <QStringList>

namespace mixq::ui {

class RecentModels {
public:
    static constexpr int kMax = 8;
    static QStringList list();
    /// Moves (or inserts) a folder to the front; folders are stored as absolute, clean paths.
    static void add(const QString& dir);
    static void remove(const QString& dir);
    static void clear();
};

}  // namespace mixq::ui
