// SPDX-License-Identifier: MIT
// The views `mixq-studio --screenshot --view V` can show: the main window with a side tab or bottom dock brought
// forward, or one of its dialogs opened on the current plan; prepare_screenshot_view returns the widget to grab.
#pragma once
#include <QString>
#include <QStringList>

class QWidget;

namespace mixq::ui {

class MainWindow;

/// main, model, results, log, settings, export.
QStringList screenshot_views();
/// Brings `view` forward in `window` (opening a dialog where the view is one) and returns what to grab.
QWidget* prepare_screenshot_view(MainWindow& window, const QString& view);

}  // namespace mixq::ui
