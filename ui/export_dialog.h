// SPDX-License-Identifier: MIT
// ExportDialog: File > Export ONNX… — output folder, exporter options (QKV, gate/up, tied embeddings), the plan's
// block size / method (read-only) and "evaluate after export" with task limits and data folders (QSettings).
#pragma once
#include <QDialog>
#include <QString>

#include "core/export/exporter.h"

class QCheckBox;
class QComboBox;
class QLineEdit;
class QSpinBox;
class QGroupBox;
class QFormLayout;

namespace mixq::ui {

struct ExportEvalSettings {
    bool enabled = false;
    int mmlu_limit = 0;  ///< 0: skip MMLU
    int piqa_limit = 0;  ///< 0: skip PIQA
    QString mmlu_dir, piqa_dir;
    QString ppl_text;    ///< "" = no perplexity
    bool speed = false;
};

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    /// `plan_format` describes the plan's block sizes / methods (shown read-only).
    explicit ExportDialog(const QString& plan_format, QWidget* parent = nullptr);

    QString outputDir() const;
    void setOutputDir(const QString& dir);
    exporter::ExportOptions options() const;
    ExportEvalSettings evalSettings() const;
    void setEvalSettings(const ExportEvalSettings& s);
    /// Stores the data folders in QSettings (called on accept).
    void remember() const;

    QLineEdit* folderEdit() const { return m_folder; }

private:
    QLineEdit* pathRow(QFormLayout* form, const QString& label, const QString& name, bool dir);

    QLineEdit* m_folder = nullptr;
    QComboBox* m_target = nullptr;
    QComboBox* m_qkv = nullptr;
    QCheckBox* m_fuse = nullptr;
    QCheckBox* m_overwrite = nullptr;
    QComboBox* m_tied = nullptr;
    QGroupBox* m_eval = nullptr;
    QSpinBox* m_mmluLimit = nullptr;
    QSpinBox* m_piqaLimit = nullptr;
    QLineEdit* m_mmluDir = nullptr;
    QLineEdit* m_piqaDir = nullptr;
    QLineEdit* m_pplText = nullptr;
    QCheckBox* m_speed = nullptr;
};

}  // namespace mixq::ui
