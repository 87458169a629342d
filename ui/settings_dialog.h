// SPDX-License-Identifier: MIT
// SettingsDialog: Settings > Scoring...: device, memory mode, calibration samples and sequence length,
// candidate formats (chosen from a list) and method; devices that cannot be used are greyed with the reason. OK validates (one-line reason shown in the dialog) before accepting.
#pragma once
#include <QDialog>

#include "ui/scoring_settings.h"

class QComboBox;
class QLabel;
class QListWidget;
class QSpinBox;

namespace mixq::ui {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const ScoringSettings& current, QWidget* parent = nullptr);

    /// The values shown (unvalidated).
    ScoringSettings settings() const;
    void setSettings(const ScoringSettings& s);

    QComboBox* deviceBox() const { return m_device; }
    QComboBox* memoryBox() const { return m_memory; }
    QSpinBox* samplesBox() const { return m_samples; }
    QSpinBox* seqLenBox() const { return m_seqLen; }
    /// Checkable formats ("int4 · group 32"; Qt::UserRole holds "int4-g32"), chosen ones first in their order.
    QListWidget* candidatesList() const { return m_candidates; }
    /// Checks or unchecks a format by name; false when the list lacks it.
    bool setCandidateChecked(const QString& name, bool on);
    QComboBox* methodBox() const { return m_method; }
    QLabel* errorLabel() const { return m_error; }
    /// Why a device is not offered (hidden when every device can be used).
    QLabel* deviceNote() const { return m_deviceNote; }

    void accept() override;

private:
    QComboBox* m_device;
    QComboBox* m_memory;
    QSpinBox* m_samples;
    QSpinBox* m_seqLen;
    void addCandidate(const QString& name);

    QListWidget* m_candidates;
    QComboBox* m_method;
    QLabel* m_error;
    QLabel* m_deviceNote = nullptr;
    bool m_cudaUsable = false;
};

}  // namespace mixq::ui
