// SPDX-License-Identifier: MIT
// BudgetPanel: preset combo, target slider + spin box kept in step, and the current plan's figures.
#include "ui/budget_panel.h"

#include "core/common/error.h"
#include "core/export/exporter.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QVBoxLayout>
#include <cmath>

#include "ui/format_utils.h"
#include "ui/plan_controller.h"

namespace mixq::ui {

namespace {
const QStringList kPresets{"custom", "rtn", "rtn_last", "k_quant_last", "k_quant_mixed"};
}

BudgetPanel::BudgetPanel(PlanController* plans, QWidget* parent) : QGroupBox(tr("Bit budget"), parent), m_plans(plans) {
    setObjectName("budgetPanel");
    auto* layout = new QVBoxLayout(this);
    layout->setSpacing(6);

    auto* top = new QHBoxLayout();
    top->addWidget(new QLabel(tr("Preset"), this));
    m_preset = new QComboBox(this);
    m_preset->setObjectName("presetBox");
    m_preset->addItems(kPresets);
    m_preset->setItemData(0, tr("The optimal plan for the target average bits below"), Qt::ToolTipRole);
    m_preset->setItemData(1, tr("ORT GenAI rtn: every unit int4 (RTN)"), Qt::ToolTipRole);
    m_preset->setItemData(2, tr("rtn_last: int4 (RTN), lm_head int8"), Qt::ToolTipRole);
    m_preset->setItemData(3, tr("k_quant_last: int4 (k-quant), lm_head int8"), Qt::ToolTipRole);
    m_preset->setItemData(4, tr("k_quant_mixed: llama.cpp's mix, int8 for QKV, some down_proj and lm_head"),
                          Qt::ToolTipRole);
    top->addWidget(m_preset, 1);
    layout->addLayout(top);

    auto* row = new QHBoxLayout();
    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setObjectName("budgetSlider");
    m_slider->setRange(80, 320);
    m_slider->setSingleStep(1);
    m_slider->setPageStep(10);
    m_slider->setTickPosition(QSlider::TicksBelow);
    m_slider->setTickInterval(20);
    m_slider->setToolTip(tr("Target average bits per weight (0.05 steps)"));
    m_spin = new QDoubleSpinBox(this);
    m_spin->setObjectName("budgetSpin");
    m_spin->setDecimals(2);
    m_spin->setSingleStep(PlanController::kGrid);
    m_spin->setRange(4.0, 16.0);
    m_spin->setSuffix(tr(" bits"));
    m_spin->setKeyboardTracking(false);
    m_spin->setCorrectionMode(QAbstractSpinBox::CorrectToNearestValue);  // out of range: clamped, not reverted
    m_spin->setToolTip(m_slider->toolTip());
    row->addWidget(m_slider, 1);
    row->addWidget(m_spin);
    layout->addLayout(row);
    m_range = new QLabel(this);
    m_range->setObjectName("budgetRange");
    m_range->setStyleSheet("color: palette(mid);");
    m_range->setWordWrap(true);  // long ranges wrap instead of widening the side panel past the window
    layout->addWidget(m_range);

    m_form = new QFormLayout();
    m_form->setLabelAlignment(Qt::AlignRight);
    m_form->setHorizontalSpacing(10);
    m_form->setVerticalSpacing(3);
    layout->addLayout(m_form);
    addRow("source", tr("Plan"), tr("How the shown plan was made"));
    addRow("achieved", tr("Average bits"), tr("Exact storage of the planned units / their weights (scales and zero points included)"));
    addRow("file_size", tr("File size"),
           tr("Size of the exported folder for this plan (ONNX graph, weights with their scales and zero points, "
              "tokenizer and config files), computed exactly as File > Export will write it with default options"));
    addRow("kld", tr("Predicted KLD"), tr("Sum of the chosen formats' per-unit KL divergences (nats per token)"));
    addRow("units", tr("Units"), tr("Units in int4 / int8 / 16-bit float"));
    addRow("pins", tr("Pinned"), tr("Units pinned to a format in the Groups tree"));

    connect(m_slider, &QSlider::valueChanged, this, [this](int k) {
        {
            QSignalBlocker b(m_preset);
            m_preset->setCurrentIndex(0);
        }
        m_plans->setTarget(target_of(k));
    });
    connect(m_spin, &QDoubleSpinBox::valueChanged, this, [this](double v) {
        const int k = static_cast<int>(std::lround(v * 20.0));
        {
            QSignalBlocker b(m_preset);
            m_preset->setCurrentIndex(0);
        }
        m_plans->setTarget(target_of(std::clamp(k, m_slider->minimum(), m_slider->maximum())));
    });
    connect(m_preset, &QComboBox::currentTextChanged, this, [this](const QString& name) { m_plans->setPreset(name); });
    connect(plans, &PlanController::plannerChanged, this, &BudgetPanel::onPlannerChanged);
    connect(plans, &PlanController::planChanged, this, &BudgetPanel::onPlanChanged);
    onPlannerChanged();
    onPlanChanged();
}

void BudgetPanel::addRow(const QString& key, const QString& label, const QString& tip) {
    auto* name = new QLabel(label + ":", this);
    name->setToolTip(tip);
    auto* value = new QLabel(this);
    value->setObjectName("budget_" + key);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setWordWrap(true);
    value->setMinimumWidth(1);
    value->setToolTip(tip);
    m_form->addRow(name, value);
    m_values[key] = value;
}

QString BudgetPanel::value(const QString& key) const {
    auto it = m_values.find(key);
    return it == m_values.end() ? QString() : (*it)->text();
}

void BudgetPanel::onPlannerChanged() {
    const bool ready = m_plans->planner() != nullptr;
    setEnabled(ready);
    if (!ready) {
        m_range->setText(tr("Plans appear once the model is scored"));
        return;
    }
    const int kmin = static_cast<int>(std::lround(m_plans->minTarget() * 20.0));
    QSignalBlocker b1(m_slider), b2(m_spin);
    m_slider->setRange(kmin, 320);
    m_spin->setRange(target_of(kmin), 16.0);
    m_range->setText(tr("reachable: %1 \u2026 16 bits/weight; frontier of %2 plans")
                         .arg(m_plans->planner()->min_avg_bits(), 0, 'f', 3)
                         .arg(m_plans->planner()->frontier().size()));
}

void BudgetPanel::onPlanChanged() {
    if (!m_plans->hasPlan()) {
        for (QLabel* l : m_values) l->setText(QStringLiteral("\u2014"));
        return;
    }
    const plan::Plan& p = m_plans->plan();
    // Keep the controls on the plan without re-planning.
    {
        QSignalBlocker b1(m_slider), b2(m_spin), b3(m_preset);
        const double at = m_plans->mode() == PlanController::Mode::Target ? m_plans->target() : p.avg_bits;
        m_slider->setValue(static_cast<int>(std::lround(at * 20.0)));
        m_spin->setValue(at);
        m_preset->setCurrentIndex(m_plans->mode() == PlanController::Mode::Preset
                                      ? std::max(0, m_preset->findText(m_plans->presetName()))
                                      : 0);
    }
    switch (m_plans->mode()) {
        case PlanController::Mode::Target:
            m_values["source"]->setText(tr("optimal for \u2264 %1 bits").arg(m_plans->target(), 0, 'f', 2));
            break;
        case PlanController::Mode::Preset:
            m_values["source"]->setText(tr("preset %1").arg(m_plans->presetName()));
            break;
        case PlanController::Mode::Loaded:
            m_values["source"]->setText(tr("loaded: %1").arg(m_plans->loadedFrom().section('/', -1)));
            m_values["source"]->setToolTip(m_plans->loadedFrom());
            break;
    }
    if (p.score_mode == "fast")
        m_values["source"]->setText(m_values["source"]->text() + tr(" \u2014 provisional (fast scores)"));
    m_values["source"]->setStyleSheet(p.score_mode == "fast" ? "color: #b45309;" : "");
    if (p.rotation != "none")
        m_values["source"]->setText(m_values["source"]->text() + tr(", rotated basis (%1)").arg(QString::fromStdString(p.rotation)));
    m_values["achieved"]->setText(QString::number(p.avg_bits, 'f', 4));
    QString size = format_bytes(p.estimated_file_bytes) + tr(" (weights only)");
    if (m_model) {  // the plan is always of the open model (the controller is cleared when another opens)
        try {
            size = format_bytes(exporter::estimate_export_size(*m_model, p).total_bytes);
        } catch (const Error&) {  // a plan the exporter refuses: the weight bytes, labelled
        }
    }
    m_values["file_size"]->setText(size);
    // Unknown is never shown as a number: a unit whose planned format has no score makes the total unknown.
    QString kld = p.kld_complete() ? QString::number(p.predicted_kld, 'g', 4)
                                   : tr("unknown (%1 units unscored; the scored ones sum to %2)")
                                         .arg(p.units_without_kld)
                                         .arg(QString::number(p.predicted_kld, 'g', 4));
    if (const auto t = m_plans->table(); t && t->mode == "fast") kld += tr(" (fast estimate)");  // not yet exact scores
    m_values["kld"]->setText(kld);
    m_values["units"]->setText(
        tr("%1 int4 \u00b7 %2 int8 \u00b7 %3 16-bit").arg(p.int4_units).arg(p.int8_units).arg(p.float_units));
    m_values["pins"]->setText(p.pins.empty() ? tr("none") : QString::number(p.pins.size()));
}

}  // namespace mixq::ui
