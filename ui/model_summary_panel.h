// SPDX-License-Identifier: MIT
// ModelSummaryPanel: the right dock's key/value view of an opened model (architecture, dims, parameters,
// dtype, layout flags, content hash, unit counts).
#pragma once
#include <QMap>
#include <QString>
#include <QWidget>

class QFormLayout;
class QLabel;

namespace mixq::io {
class Model;
}

namespace mixq::ui {

class ModelSummaryPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelSummaryPanel(QWidget* parent = nullptr);

    /// Fills every row from the model (reads config, layout and the cached content hash).
    void setModel(const io::Model& model);
    void clear();

    /// Keys: model, path, architecture, layers, hidden, intermediate, heads, kv_heads, head_dim, vocab,
    /// parameters, dtype, weight_bytes, tied_embeddings, packed_qkv, fused_gate_up, attention_bias, qk_norm,
    /// rope, content_hash, linears, units. "" for an unknown key or before a model is set.
    QString value(const QString& key) const;
    QStringList keys() const { return m_order; }

private:
    void addRow(const QString& key, const QString& label);
    void set(const QString& key, const QString& text, const QString& tip = {});

    QFormLayout* m_form = nullptr;
    QLabel* m_empty = nullptr;
    QMap<QString, QLabel*> m_values;
    QStringList m_order;
};

}  // namespace mixq::ui
