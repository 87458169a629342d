// SPDX-License-Identifier: MIT
// SettingsDialog: the scoring settings form and its validation.
#include "ui/settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QListWidget>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include "core/common/error.h"
#include "core/backend/compute_backend.h"

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
    // Only devices that can be used are offered; the others stay listed, greyed, with the reason.
    std::string why;
    m_cudaUsable = backend::accelerator_usable(&why);
    m_deviceNote = new QLabel(this);
    m_deviceNote->setObjectName("settingsDeviceNote");
    m_deviceNote->setWordWrap(true);
    m_deviceNote->setStyleSheet("color: palette(mid);");
    if (!m_cudaUsable) {
        const QString reason = QString::fromStdString(why.empty() ? "this build has no CUDA backend" : why);
        if (auto* model = qobject_cast<QStandardItemModel*>(m_device->model())) {
            QStandardItem* item = model->item(m_device->findText("cuda"));
            item->setFlags(item->flags() & ~Qt::ItemIsEnabled);
            item->setToolTip(reason);
        }
        m_deviceNote->setText(tr("cuda cannot be used: %1. auto scores on the CPU.").arg(reason));
        form->addRow(QString(), m_deviceNote);
    } else {
        m_deviceNote->hide();
    }

    m_memory = new QComboBox(this);
    m_memory->setObjectName("settingsMemory");
    m_memory->addItems({"auto", "full", "low_memory", "offload", "multi_gpu"});
    m_memory->setToolTip(tr("full keeps every layer in memory (BF16/F16 layers read in place and the unit under "
                            "test in fp32; fp32 copies under rotation or the Fisher estimate); low_memory streams one "
                            "layer at a time; offload also keeps the cached hidden states on disk (host memory on "
                            "a GPU); multi_gpu spreads whole decoder layers over the CUDA devices; auto chooses from "
                            "free memory"));
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

    // Candidates are chosen, not typed: every width x group size x zero-point layout the quantizers support.
    m_candidates = new QListWidget(this);
    m_candidates->setObjectName("settingsCandidates");
    m_candidates->setToolTip(tr("Formats scored for every unit (bits, group size, symmetric or with zero points); "
                                "16-bit is always a choice of the planner"));
    for (const char* sym : {"", "-sym"})
        for (int bits : {4, 8})
            for (int group : {32, 64, 128}) addCandidate(QString("int%1-g%2%3").arg(bits).arg(group).arg(sym));
    m_candidates->setMaximumHeight(m_candidates->sizeHintForRow(0) * 6 + 4);
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

void SettingsDialog::addCandidate(const QString& name) {
    auto* item = new QListWidgetItem(QString(name).replace("-g", " \u00b7 group ").replace("-sym", " \u00b7 symmetric"),
                                     m_candidates);
    item->setData(Qt::UserRole, name);
    item->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled);
    item->setCheckState(Qt::Unchecked);
}

bool SettingsDialog::setCandidateChecked(const QString& name, bool on) {
    for (int i = 0; i < m_candidates->count(); ++i)
        if (m_candidates->item(i)->data(Qt::UserRole).toString() == name) {
            m_candidates->item(i)->setCheckState(on ? Qt::Checked : Qt::Unchecked);
            return true;
        }
    return false;
}

void SettingsDialog::setSettings(const ScoringSettings& s) {
    m_device->setCurrentText(s.device == "cuda" && !m_cudaUsable ? QString("auto") : s.device);
    m_memory->setCurrentText(s.memory);
    m_samples->setValue(s.samples);
    m_seqLen->setValue(s.seq_len);
    // The list order is the stored order: chosen ones first, in their order, then the rest.
    const QStringList chosen = s.candidates.simplified().remove(' ').split(',', Qt::SkipEmptyParts);
    for (int i = 0; i < m_candidates->count(); ++i) m_candidates->item(i)->setCheckState(Qt::Unchecked);
    for (int k = chosen.size() - 1; k >= 0; --k) {
        if (!setCandidateChecked(chosen[k], true)) {  // a stored format the list does not offer (kept, checked)
            addCandidate(chosen[k]);
            setCandidateChecked(chosen[k], true);
        }
        for (int i = 0; i < m_candidates->count(); ++i)
            if (m_candidates->item(i)->data(Qt::UserRole).toString() == chosen[k]) {
                m_candidates->insertItem(0, m_candidates->takeItem(i));
                break;
            }
    }
    m_method->setCurrentText(s.method);
}

ScoringSettings SettingsDialog::settings() const {
    ScoringSettings s;
    s.device = m_device->currentText();
    s.memory = m_memory->currentText();
    s.samples = m_samples->value();
    s.seq_len = m_seqLen->value();
    QStringList chosen;
    for (int i = 0; i < m_candidates->count(); ++i)
        if (m_candidates->item(i)->checkState() == Qt::Checked) chosen << m_candidates->item(i)->data(Qt::UserRole).toString();
    s.candidates = chosen.join(',');
    s.method = m_method->currentText();
    return s;
}

void SettingsDialog::accept() {
    try {
        if (settings().candidates.isEmpty()) fail("settings", "candidates: choose at least one format");
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
