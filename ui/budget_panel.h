// SPDX-License-Identifier: MIT
// BudgetPanel: the side panel's bit-budget controls: a preset combo, a slider and a spin box for the target
// average bits (0.05 steps from the smallest reachable average to 16), and the plan's figures (achieved
// average, estimated file size, predicted KLD, int4 / int8 / 16-bit unit counts). Every move re-plans through
// the PlanController at once.
#pragma once
#include <QGroupBox>
#include <QMap>
#include <QString>
#include <memory>

#include "core/io/model.h"

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QSlider;

namespace mixq::ui {

class PlanController;

class BudgetPanel : public QGroupBox {
    Q_OBJECT
public:
    explicit BudgetPanel(PlanController* plans, QWidget* parent = nullptr);

    QSlider* slider() const { return m_slider; }
    QDoubleSpinBox* spinBox() const { return m_spin; }
    QComboBox* presetBox() const { return m_preset; }
    /// Slider position k means a target of k * 0.05 bits/weight.
    static double target_of(int k) { return k / 20.0; }
    /// Shown figures by key: source, achieved, file_size, kld, int4, int8, float, pins. "" before a plan.
    QString value(const QString& key) const;
    /// The open model: the file size shown is then the exact size of the export of the current plan (ONNX graph,
    /// weights, tokenizer and config files); without it, the plan's weight bytes, labelled as such.
    void setModel(std::shared_ptr<const io::Model> model) { m_model = std::move(model); }

private:
    void onPlannerChanged();
    void onPlanChanged();
    void addRow(const QString& key, const QString& label, const QString& tip);

    PlanController* m_plans;
    std::shared_ptr<const io::Model> m_model;
    QComboBox* m_preset = nullptr;
    QSlider* m_slider = nullptr;
    QDoubleSpinBox* m_spin = nullptr;
    QLabel* m_range = nullptr;
    QMap<QString, QLabel*> m_values;
    QFormLayout* m_form = nullptr;
};

}  // namespace mixq::ui
