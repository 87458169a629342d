// SPDX-License-Identifier: MIT
// SettingsDialog: the scoring settings form and its validation.
#include "ui/settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/common/error.h"

namespace mixq::ui {

SettingsDialog::SettingsDialog(const ScoringSettings& current, QWidget* parent) : QDialog(parent) {
    setObjectName("settingsDialog");
    setWindowTitle(tr("Scoring Settings"));
    auto* layout = new QVBoxLayout(this);
    auto* intro = new QLabel(tr("Scores are cached per model and per calibration / candidate settings; changing "
                                "them re-scores the open model."),
                             this);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    auto* form = new QFormLayout();
    layout->addLayout(form);

    m_device = new QComboBox(this);
    m_device->setObjectName("settingsDevice");
    m_device->addItems({"auto", "cpu", "cuda"});
    m_device->setToolTip(tr("auto scores on the GPU when this build has the CUDA backend and a device can be used, else on the CPU"));
    form->addRow(tr("Device"), m_device);

    m_memory = new QComboBox(this);
    m_memory->setObjectName("settingsMemory");
    m_memory->addItems({"auto", "full", "low_memory", "offload", "multi_gpu"});
    m_memory->setToolTip(tr("full keeps every weight in fp32; low_memory streams one layer at a time; offload "
                            "also keeps the cached hidden states on disk (host memory on a GPU); multi_gpu spreads "
                            "whole decoder layers over the CUDA devices; auto chooses from free memory"));
    form->addRow(tr("Memory mode"), m_memory);

    m_samples = new QSpinBox(this);
    m_samples->setObjectName("settingsSamples");
    m_samples->setRange(1, 4096);
    form->addRow(tr("Calibration samples"), m_samples);

    m_seqLen = new QSpinBox(this);
    m_seqLen->setObjectName("settingsSeqLen");
    m_seqLen->setRange(2, 65536);
    m_seqLen->setSuffix(tr(" tokens"));
    form->addRow(tr("Sequence length"), m_seqLen);

    m_candidates = new QLineEdit(this);
    m_candidates->setObjectName("settingsCandidates");
    m_candidates->setPlaceholderText("int4-g32,int4-g128,int8-g128");
    m_candidates->setToolTip(tr("Comma-separated formats: int4-g32, int4-g128-sym, int8-g128, ..."));
    form->addRow(tr("Candidates"), m_candidates);

    m_method = new QComboBox(this);
    m_method->setObjectName("settingsMethod");
    m_method->addItems({"rtn", "kquant"});
    m_method->setToolTip(tr("Round-to-nearest scales, or k-quant's searched scales"));
    form->addRow(tr("Method"), m_method);

    m_error = new QLabel(this);
    m_error->setObjectName("settingsError");
    m_error->setStyleSheet("color: #b91c1c;");
    m_error->setWordWrap(true);
    m_error->hide();
    layout->addWidget(m_error);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    setSettings(current);
}

void SettingsDialog::setSettings(const ScoringSettings& s) {
    m_device->setCurrentText(s.device);
    m_memory->setCurrentText(s.memory);
    m_samples->setValue(s.samples);
    m_seqLen->setValue(s.seq_len);
    m_candidates->setText(s.candidates);
    m_method->setCurrentText(s.method);
}

ScoringSettings SettingsDialog::settings() const {
    ScoringSettings s;
    s.device = m_device->currentText();
    s.memory = m_memory->currentText();
    s.samples = m_samples->value();
    s.seq_len = m_seqLen->value();
    s.candidates = m_candidates->text().simplified().remove(' ');
    s.method = m_method->currentText();
    return s;
}

void SettingsDialog::accept() {
    try {
        settings().validate();
    } catch (const Error& e) {
        m_error->setText(QString::fromStdString(e.what()));
        m_error->show();
        return;
    }
    m_error->hide();
    QDialog::accept();
}

}  // namespace mixq::ui
