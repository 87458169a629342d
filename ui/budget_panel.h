// SPDX-License-Identifier: MIT
// BudgetPanel: the side panel's bit-budget controls: a preset combo, a slider and a spin box for the target
// average bits (0.05 steps from the smallest reachable average to 16), and the plan's figures (achieved
// average, estimated file size, predicted KLD, int4 / int8 / 16-bit unit counts). Every move re-plans through
// the PlanController at once.
#pragma once
#include <QGroupBox>
#include <QMap>
#include <QString>

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

private:
    void onPlannerChanged();
    void onPlanChanged();
    void addRow(const QString& key, const QString& label, const QString& tip);

    PlanController* m_plans;
    QComboBox* m_preset = nullptr;
    QSlider* m_slider = nullptr;
    QDoubleSpinBox* m_spin = nullptr;
    QLabel* m_range = nullptr;
    QMap<QString, QLabel*> m_values;
    QFormLayout* m_form = nullptr;
};

}  // namespace mixq::ui
