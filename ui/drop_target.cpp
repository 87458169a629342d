// SPDX-License-Identifier: MIT
// classify_drop: first local URL -> model folder or scores file.
#include "ui/drop_target.h"

#include <QFileInfo>
#include <QMimeData>
#include <QUrl>

namespace mixq::ui {

DropTarget classify_drop(const QMimeData* mime) {
    DropTarget t;
    if (!mime || !mime->hasUrls()) return t;
    for (const QUrl& url : mime->urls()) {
        if (!url.isLocalFile()) continue;
        const QFileInfo fi(url.toLocalFile());
        if (fi.isDir()) return {DropTarget::ModelFolder, fi.absoluteFilePath()};
        if (!fi.isFile()) continue;
        const QString name = fi.fileName().toLower();
        if (name == "config.json" || name == "tokenizer.json" || name == "tokenizer_config.json" ||
            name == "generation_config.json" || name.endsWith(".safetensors") ||
            name == "model.safetensors.index.json")
            return {DropTarget::ModelFolder, fi.absolutePath()};
        if (name.endsWith(".json")) return {DropTarget::ScoresFile, fi.absoluteFilePath()};
    }
    return t;
}

}  // namespace mixq::ui
