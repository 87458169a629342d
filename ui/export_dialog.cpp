// SPDX-License-Identifier: MIT
// ExportDialog: the export form; data folders and limits persist in QSettings ("export/...").
#include "ui/export_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include "ui/eval_request.h"

namespace mixq::ui {

ExportDialog::ExportDialog(const QString& plan_format, QWidget* parent) : QDialog(parent) {
    setObjectName("exportDialog");
    setWindowTitle(tr("Export ONNX"));
    auto* top = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    top->addLayout(form);
    m_folder = pathRow(form, tr("Output folder:"), "exportFolder", true);
    auto* fmt = new QLabel(plan_format);
    fmt->setObjectName("exportPlanFormat");
    fmt->setToolTip(tr("Block size and method come from the current plan"));
    form->addRow(tr("Plan formats:"), fmt);
    m_target = new QComboBox;
    m_target->setObjectName("exportTarget");
    m_target->addItems({"cpu", "cuda", "dml"});
    m_target->setToolTip(tr("Execution provider the file is built for (ORT GenAI's builder -e): cpu runs float32 "
                            "activations with int8-activation MatMulNBits (accuracy_level 4); cuda and dml run float16 "
                            "activations end to end (accuracy_level 0)"));
    form->addRow(tr("Target:"), m_target);
    m_qkv = new QComboBox;
    m_qkv->setObjectName("exportQkv");
    m_qkv->addItems({"packed", "unpacked"});
    form->addRow(tr("QKV:"), m_qkv);
    m_fuse = new QCheckBox(tr("Fuse gate/up projections"));
    m_fuse->setObjectName("exportFuseGateUp");
    form->addRow(QString(), m_fuse);
    m_overwrite = new QCheckBox(tr("Into a folder with other files: replace MixQ's files, keep the others"));
    m_overwrite->setObjectName("exportOverwrite");
    m_overwrite->setToolTip(tr("Unticked, a folder holding anything MixQ did not write is refused. Ticked, only "
                               "model.onnx, model.onnx.data, genai_config.json, the tokenizer files and "
                               "mixq_plan.json are replaced; every other file and folder there is kept."));
    form->addRow(QString(), m_overwrite);
    m_tied = new QComboBox;
    m_tied->setObjectName("exportTied");
    m_tied->addItems({"auto", "on", "off"});
    form->addRow(tr("Tied embeddings:"), m_tied);

    m_eval = new QGroupBox(tr("Evaluate after export"));
    m_eval->setObjectName("exportEvaluate");
    m_eval->setCheckable(true);
    m_eval->setChecked(false);
    auto* ef = new QFormLayout(m_eval);
    m_mmluLimit = new QSpinBox;
    m_mmluLimit->setRange(0, 100000);
    m_mmluLimit->setSpecialValueText(tr("skip"));
    m_mmluLimit->setObjectName("exportMmluLimit");
    ef->addRow(tr("MMLU limit:"), m_mmluLimit);
    m_mmluDir = pathRow(ef, tr("MMLU data:"), "exportMmluDir", true);
    m_piqaLimit = new QSpinBox;
    m_piqaLimit->setRange(0, 100000);
    m_piqaLimit->setSpecialValueText(tr("skip"));
    m_piqaLimit->setObjectName("exportPiqaLimit");
    ef->addRow(tr("PIQA limit:"), m_piqaLimit);
    m_piqaDir = pathRow(ef, tr("PIQA data:"), "exportPiqaDir", true);
    m_pplText = pathRow(ef, tr("Perplexity text:"), "exportPplText", false);
    m_pplText->setPlaceholderText(tr("none"));
    m_speed = new QCheckBox(tr("Measure speed (prefill / decode tokens/s)"));
    m_speed->setObjectName("exportSpeed");
    ef->addRow(QString(), m_speed);
    top->addWidget(m_eval);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Export"));
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        if (outputDir().trimmed().isEmpty()) return;
        remember();
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    top->addWidget(buttons);

    const ExportEvalSettings s = remembered_eval_settings();
    setEvalSettings(s);
}

QLineEdit* ExportDialog::pathRow(QFormLayout* form, const QString& label, const QString& name, bool dir) {
    auto* row = new QHBoxLayout;
    auto* edit = new QLineEdit;
    edit->setObjectName(name);
    auto* browse = new QPushButton(tr("Browse\u2026"));
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form->addRow(label, row);
    connect(browse, &QPushButton::clicked, this, [this, edit, dir, label] {
        const QString p = dir ? QFileDialog::getExistingDirectory(this, label, edit->text())
                              : QFileDialog::getOpenFileName(this, label, edit->text());
        if (!p.isEmpty()) edit->setText(p);
    });
    return edit;
}

QString ExportDialog::outputDir() const { return m_folder->text().trimmed(); }
void ExportDialog::setOutputDir(const QString& dir) { m_folder->setText(dir); }

exporter::ExportOptions ExportDialog::options() const {
    exporter::ExportOptions o;
    o.target = exporter::parse_target(m_target->currentText().toStdString());
    o.accuracy_level = exporter::default_accuracy_level(o.target);
    o.qkv = exporter::parse_qkv_mode(m_qkv->currentText().toStdString());
    o.fuse_gate_up = m_fuse->isChecked();
    o.tied = exporter::parse_tied_mode(m_tied->currentText().toStdString());
    o.overwrite = m_overwrite->isChecked();
    o.overwrite_hint = "tick \"replace MixQ's files, keep the others\" in the export dialog";
    return o;
}

ExportEvalSettings ExportDialog::evalSettings() const {
    ExportEvalSettings s;
    s.enabled = m_eval->isChecked();
    s.mmlu_limit = m_mmluLimit->value();
    s.piqa_limit = m_piqaLimit->value();
    s.mmlu_dir = m_mmluDir->text().trimmed();
    s.piqa_dir = m_piqaDir->text().trimmed();
    s.ppl_text = m_pplText->text().trimmed();
    s.speed = m_speed->isChecked();
    return s;
}

void ExportDialog::setEvalSettings(const ExportEvalSettings& s) {
    m_eval->setChecked(s.enabled);
    m_mmluLimit->setValue(s.mmlu_limit);
    m_piqaLimit->setValue(s.piqa_limit);
    m_mmluDir->setText(s.mmlu_dir);
    m_piqaDir->setText(s.piqa_dir);
    m_pplText->setText(s.ppl_text);
    m_speed->setChecked(s.speed);
}

void ExportDialog::remember() const {
    QSettings st;
    const auto s = evalSettings();
    st.setValue("export/evaluate", s.enabled);
    st.setValue("export/mmlu_limit", s.mmlu_limit);
    st.setValue("export/piqa_limit", s.piqa_limit);
    st.setValue("export/mmlu_dir", s.mmlu_dir);
    st.setValue("export/piqa_dir", s.piqa_dir);
    st.setValue("export/ppl_text", s.ppl_text);
    st.setValue("export/speed", s.speed);
}

}  // namespace mixq::ui
