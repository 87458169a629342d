// SPDX-License-Identifier: MIT
// prepare_screenshot_view: tabs, docks and dialogs for the scripted screenshots (the results view evaluates the
// plan first when the model has no results yet).
#include "ui/screenshot_views.h"

#include <QApplication>
#include <QDockWidget>
#include <QTabWidget>

#include "ui/export_controller.h"
#include "ui/eval_request.h"
#include "ui/export_dialog.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/results_model.h"
#include "ui/studio_session.h"
#include "ui/settings_dialog.h"

namespace mixq::ui {

QStringList screenshot_views() { return {"main", "model", "results", "log", "settings", "export"}; }

QWidget* prepare_screenshot_view(MainWindow& window, const QString& view) {
    QWidget* grab = &window;
    if (view == "model") {
        window.sideTabs()->setCurrentIndex(1);
    } else if (view == "results" && window.session()->results()->size() == 0 && window.plans()->hasPlan()) {
        // An empty table shows nothing: the plan on screen is evaluated first (the shipped data, 40 questions each,
        // the held-out text for its measured KLD); the session grabs once that job is done.
        if (auto* ctrl = window.findChild<ExportController*>()) {
            ExportEvalSettings ev = remembered_eval_settings();
            ev.mmlu_limit = ev.piqa_limit = 40;
            ctrl->evaluatePlan(ev);
        }
    } else if (view == "results" || view == "log") {
        auto* dock = window.findChild<QDockWidget*>(view == "results" ? "resultsDock" : "logDock");
        if (dock) {
            dock->show();
            dock->raise();
        }
    } else if (view == "settings") {
        grab = window.showSettingsDialog();
    } else if (view == "export") {
        if (auto* ctrl = window.findChild<ExportController*>()) {
            if (ExportDialog* d = ctrl->showExportDialog()) {
                d->setOutputDir(QStringLiteral("demo-model-onnx"));
                grab = d;
            }
        }
    }
    if (grab != &window) grab->adjustSize();
    for (int i = 0; i < 3; ++i) QApplication::processEvents();
    return grab;
}

}  // namespace mixq::ui
