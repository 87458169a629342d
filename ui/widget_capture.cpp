// SPDX-License-Identifier: MIT
// save_widget_png: grab, encode PNG in memory, write atomically.
#include "ui/widget_capture.h"

#include <QBuffer>
#include <QPixmap>
#include <QWidget>
#include <filesystem>

#include "core/common/atomic_file.h"
#include "core/common/error.h"

namespace mixq::ui {

void save_widget_png(QWidget* w, const QString& path) {
    const QPixmap pix = w->grab();
    if (pix.isNull()) fail(path.toStdString(), "the window could not be rendered");
    QByteArray png;
    QBuffer buf(&png);
    buf.open(QIODevice::WriteOnly);
    if (!pix.save(&buf, "PNG")) fail(path.toStdString(), "PNG encoding failed");
    const std::filesystem::path p = path.toStdString();
    if (p.has_parent_path() && !std::filesystem::exists(p.parent_path()))
        fail(path.toStdString(), "folder does not exist");
    write_file_atomic(p, std::string(png.constData(), static_cast<size_t>(png.size())));
}

}  // namespace mixq::ui
