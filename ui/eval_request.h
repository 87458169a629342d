// SPDX-License-Identifier: MIT
// The evaluation settings the app remembers (the export dialog's tasks, limits and data folders) and the one
// eval::EvalRequest both of its evaluations make from them — of an export folder and of the current plan — so a
// plan's row and the baseline it is compared with are measured on the same questions.
#pragma once
#include <QString>

#include "core/eval/evaluator.h"
#include "ui/export_dialog.h"

namespace mixq::ui {

/// The settings stored by the export dialog (QSettings "export/..."), with its defaults.
ExportEvalSettings remembered_eval_settings();
/// The request for `target` on the tasks of `s` (each with its own limit; perplexity windows limited by the larger).
eval::EvalRequest eval_request_for(const QString& target, const ExportEvalSettings& s);
/// Names the questions a row is measured on (tasks, data folders, limits): rows compare only under one key.
QString eval_key_for(const ExportEvalSettings& s);
/// "MMLU 20 · PIQA 20 · perplexity" for tooltips and labels.
QString eval_key_text(const ExportEvalSettings& s);

}  // namespace mixq::ui
