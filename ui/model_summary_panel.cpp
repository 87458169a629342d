// SPDX-License-Identifier: MIT
// ModelSummaryPanel: one selectable label per fact, filled from io::Model.
#include "ui/model_summary_panel.h"

#include <QFormLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <map>

#include "core/io/model.h"
#include "ui/format_utils.h"

namespace mixq::ui {

ModelSummaryPanel::ModelSummaryPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("modelSummary");
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(8, 6, 8, 6);
    m_empty = new QLabel(tr("No model open.\nDrop a Hugging Face model folder on the window\nor use File \u203a Open."), this);
    m_empty->setObjectName("summaryEmpty");
    m_empty->setWordWrap(true);
    m_empty->setStyleSheet("color: palette(mid);");
    outer->addWidget(m_empty);
    m_form = new QFormLayout();
    m_form->setLabelAlignment(Qt::AlignRight);
    m_form->setHorizontalSpacing(10);
    m_form->setVerticalSpacing(3);
    m_form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    outer->addLayout(m_form);
    outer->addStretch(1);

    addRow("model", tr("Model"));
    addRow("path", tr("Folder"));
    addRow("architecture", tr("Architecture"));
    addRow("layers", tr("Layers"));
    addRow("hidden", tr("Hidden size"));
    addRow("intermediate", tr("MLP size"));
    addRow("heads", tr("Heads"));
    addRow("kv_heads", tr("KV heads"));
    addRow("head_dim", tr("Head dim"));
    addRow("vocab", tr("Vocabulary"));
    addRow("parameters", tr("Parameters"));
    addRow("dtype", tr("Dtype"));
    addRow("weight_bytes", tr("Weights"));
    addRow("tied_embeddings", tr("Tied embeddings"));
    addRow("packed_qkv", tr("Packed QKV"));
    addRow("fused_gate_up", tr("Fused gate/up"));
    addRow("attention_bias", tr("QKV bias"));
    addRow("qk_norm", tr("QK norm"));
    addRow("rope", tr("RoPE"));
    addRow("content_hash", tr("Content hash"));
    addRow("linears", tr("Linear layers"));
    addRow("units", tr("Quant units"));
    clear();
}

void ModelSummaryPanel::addRow(const QString& key, const QString& label) {
    auto* value = new QLabel(this);
    value->setObjectName("summary_" + key);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setWordWrap(true);
    m_form->addRow(label + ":", value);
    m_values.insert(key, value);
    m_order.append(key);
}

void ModelSummaryPanel::set(const QString& key, const QString& text, const QString& tip) {
    QLabel* l = m_values.value(key);
    if (!l) return;
    l->setText(text);
    l->setToolTip(tip);
}

void ModelSummaryPanel::clear() {
    for (QLabel* l : m_values) {
        l->clear();
        l->setToolTip({});
    }
    for (int i = 0; i < m_form->rowCount(); ++i) m_form->setRowVisible(i, false);
    m_empty->setVisible(true);
}

void ModelSummaryPanel::setModel(const io::Model& model) {
    const auto& c = model.config();
    const auto& L = model.layout();
    const QString dir = QString::fromStdString(model.dir().string());
    set("model", QString::fromStdString(model.dir().filename().string()), dir);
    set("path", dir.size() > 42 ? QString(QChar(0x2026)) + dir.right(41) : dir, dir);
    set("architecture", QString::fromStdString(c.model_type));
    set("layers", QString::number(c.num_layers));
    set("hidden", QString::number(c.hidden_size));
    set("intermediate", QString::number(c.intermediate_size));
    set("heads", QString::number(c.num_heads));
    set("kv_heads", QString::number(c.num_kv_heads));
    set("head_dim", QString::number(c.head_dim));
    set("vocab", QString::number(c.vocab_size));
    const int64_t params = model.parameter_count();
    set("parameters", format_count(params) + " (" + format_grouped(params) + ")");
    set("dtype", QString::fromStdString(io::dtype_name(model.weight_dtype())).toLower());
    const uint64_t bytes = model.weights().total_bytes();
    set("weight_bytes", format_bytes(bytes), format_grouped(static_cast<int64_t>(bytes)) + " bytes");
    set("tied_embeddings", yes_no(L.tied_embeddings));
    set("packed_qkv", yes_no(L.packed_qkv));
    set("fused_gate_up", yes_no(L.fused_gate_up));
    set("attention_bias", yes_no(c.attention_bias));
    set("qk_norm", yes_no(c.qk_norm));
    QString rope = "theta " + QString::number(c.rope_theta, 'g', 8);
    if (c.rope_scaling.type != "none")
        rope += ", " + QString::fromStdString(c.rope_scaling.type) + " \u00d7" + QString::number(c.rope_scaling.factor);
    set("rope", rope);
    set("content_hash", QString::fromStdString(model.content_hash()));
    set("linears", QString::number(L.linears.size()));

    std::map<std::string, int> by_kind;
    for (const auto& u : L.units) by_kind[io::unit_kind_name(u.kind)]++;
    QStringList parts;
    // Forward order of kinds, then anything else.
    for (const char* k : {"embed", "tied_embed", "qkv", "o", "gate_up", "down", "lm_head"}) {
        auto it = by_kind.find(k);
        if (it == by_kind.end()) continue;
        parts << QString("%1 %2").arg(QString::fromLatin1(k)).arg(it->second);
        by_kind.erase(it);
    }
    for (const auto& [k, n] : by_kind) parts << QString("%1 %2").arg(QString::fromStdString(k)).arg(n);
    set("units", QString("%1 (%2)").arg(L.units.size()).arg(parts.join(", ")));

    for (int i = 0; i < m_form->rowCount(); ++i) m_form->setRowVisible(i, true);
    m_empty->setVisible(false);
}

QString ModelSummaryPanel::value(const QString& key) const {
    QLabel* l = m_values.value(key);
    return l ? l->text() : QString();
}

}  // namespace mixq::ui
