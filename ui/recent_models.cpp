// SPDX-License-Identifier: MIT
// RecentModels: QSettings-backed most-recently-used model folders.
#include "ui/recent_models.h"

#include <QDir>
#include <QSettings>

namespace mixq::ui {

namespace {
const char* kKey = "recentModels";
QSettings settings() { return QSettings(QStringLiteral("MixQ"), QStringLiteral("MixQ Studio")); }
QString clean(const QString& dir) { return QDir::cleanPath(QDir(dir).absolutePath()); }
}  // namespace

QStringList RecentModels::list() { return settings().value(kKey).toStringList(); }

void RecentModels::add(const QString& dir) {
    QStringList l = list();
    const QString p = clean(dir);
    l.removeAll(p);
    l.prepend(p);
    while (l.size() > kMax) l.removeLast();
    settings().setValue(kKey, l);
}

void RecentModels::remove(const QString& dir) {
    QStringList l = list();
    l.removeAll(clean(dir));
    settings().setValue(kKey, l);
}

void RecentModels::clear() { settings().remove(kKey); }

}  // namespace mixq::ui
