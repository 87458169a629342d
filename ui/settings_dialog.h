// SPDX-License-Identifier: MIT
// SettingsDialog: Settings > Scoring...: device, memory mode, calibration samples and sequence length,
// candidate formats and method. OK validates (one-line reason shown in the dialog) before accepting.
#pragma once
#include <QDialog>

#include "ui/scoring_settings.h"

class QComboBox;
class QLabel;
class QLineEdit;
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
    QLineEdit* candidatesEdit() const { return m_candidates; }
    QComboBox* methodBox() const { return m_method; }
    QLabel* errorLabel() const { return m_error; }

    void accept() override;

private:
    QComboBox* m_device;
    QComboBox* m_memory;
    QSpinBox* m_samples;
    QSpinBox* m_seqLen;
    QLineEdit* m_candidates;
    QComboBox* m_method;
    QLabel* m_error;
};

}  // namespace mixq::ui
