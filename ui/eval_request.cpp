// SPDX-License-Identifier: MIT
// Remembered evaluation settings and the request / comparison key made from them.
#include "ui/eval_request.h"

#include <QSettings>
#include <QStringList>
#include <algorithm>

#include "core/io/data_dir.h"

namespace mixq::ui {

ExportEvalSettings remembered_eval_settings() {
    QSettings st;
    ExportEvalSettings s;
    s.enabled = st.value("export/evaluate", false).toBool();
    s.mmlu_limit = st.value("export/mmlu_limit", 20).toInt();
    s.piqa_limit = st.value("export/piqa_limit", 20).toInt();
    // The data shipped with MixQ until the user picks other folders (an explicitly cleared field stays cleared).
    s.mmlu_dir = st.value("export/mmlu_dir", QString::fromStdString(io::builtin_mmlu_dir().string())).toString();
    s.piqa_dir = st.value("export/piqa_dir", QString::fromStdString(io::builtin_piqa_dir().string())).toString();
    s.ppl_text = st.value("export/ppl_text", QString::fromStdString(io::builtin_heldout_text().string())).toString();
    s.speed = st.value("export/speed", false).toBool();
    return s;
}

eval::EvalRequest eval_request_for(const QString& target, const ExportEvalSettings& s) {
    eval::EvalRequest req;
    req.target = target.toStdString();
    if (s.mmlu_limit > 0 && !s.mmlu_dir.isEmpty()) req.mmlu = s.mmlu_dir.toStdString();
    if (s.piqa_limit > 0 && !s.piqa_dir.isEmpty()) req.piqa = s.piqa_dir.toStdString();
    if (!s.ppl_text.isEmpty()) req.ppl_text = s.ppl_text.toStdString();
    req.speed = s.speed;
    req.mmlu_limit = s.mmlu_limit;  // each task keeps its own limit
    req.piqa_limit = s.piqa_limit;
    req.limit = std::max(s.mmlu_limit, s.piqa_limit);  // perplexity windows
    req.device = "auto";  // model folders on the GPU when one is usable (a plan and its baseline: the CPU engine)
    return req;
}

QString eval_key_for(const ExportEvalSettings& s) {
    QStringList parts;
    if (s.mmlu_limit > 0 && !s.mmlu_dir.isEmpty()) parts << QString("mmlu:%1:%2").arg(s.mmlu_limit).arg(s.mmlu_dir);
    if (s.piqa_limit > 0 && !s.piqa_dir.isEmpty()) parts << QString("piqa:%1:%2").arg(s.piqa_limit).arg(s.piqa_dir);
    if (!s.ppl_text.isEmpty()) parts << QString("ppl:%1:%2").arg(std::max(s.mmlu_limit, s.piqa_limit)).arg(s.ppl_text);
    return parts.join('|');
}

QString eval_key_text(const ExportEvalSettings& s) {
    QStringList parts;
    if (s.mmlu_limit > 0 && !s.mmlu_dir.isEmpty()) parts << QObject::tr("MMLU %1").arg(s.mmlu_limit);
    if (s.piqa_limit > 0 && !s.piqa_dir.isEmpty()) parts << QObject::tr("PIQA %1").arg(s.piqa_limit);
    if (!s.ppl_text.isEmpty()) parts << QObject::tr("perplexity");
    return parts.join(" \u00b7 ");
}

}  // namespace mixq::ui
