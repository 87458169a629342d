// SPDX-License-Identifier: MIT
// Renders a widget with QWidget::grab() and writes it as PNG through write_file_atomic.
#pragma once
#include <QString>

class QWidget;

namespace mixq::ui {

/// Grabs `w` (its current size) and writes a PNG atomically; throws mixq::Error naming the path on failure.
void save_widget_png(QWidget* w, const QString& path);

}  // namespace mixq::ui
