// SPDX-License-Identifier: MIT
// What a drag carries for the main window: a model folder (a folder, or a file inside one such as config.json
// or *.safetensors) or a scores file (any other *.json). Only local URLs count.
#pragma once
#include <QString>

class QMimeData;

namespace mixq::ui {

struct DropTarget {
    enum Kind { None, ModelFolder, ScoresFile };
    Kind kind = None;
    QString path;
};

DropTarget classify_drop(const QMimeData* mime);

}  // namespace mixq::ui
