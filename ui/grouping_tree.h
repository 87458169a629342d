// SPDX-License-Identifier: MIT
// GroupingTree: the model's quantization units as a tree (layer -> QKV group with its q/k/v members, gate|up
// group, o, down; plus embeddings / lm_head), each row showing the plan's format for its unit (members of one
// unit always show one format) and its predicted KLD; a context menu pins a unit to a format or clears pins.
#pragma once
#include <QTreeWidget>
#include <map>
#include <string>
#include <vector>

#include "core/io/model_layout.h"
#include "core/plan/plan.h"
#include "core/quant/quant_format.h"

class QMenu;

namespace mixq::ui {

class GroupingTree : public QTreeWidget {
    Q_OBJECT
public:
    enum Column { ColName = 0, ColFormat, ColKld };
    enum Role { UnitRole = Qt::UserRole + 1, TensorRole, FormatRole, PinnedRole };

    explicit GroupingTree(QWidget* parent = nullptr);

    /// Builds the rows from the layout (no formats yet).
    void setModelLayout(const io::ModelLayout& layout, int num_layers);
    void clearModel();
    /// Formats offered by the pin menu (the scored candidates; fp16 is always added).
    void setCandidates(const std::vector<quant::QuantFormat>& candidates);
    /// The plan's format, KLD and pin flag for every unit row and its members; null clears them.
    void setPlan(const plan::Plan* plan);

    /// The row of a unit ("layers.2.qkv") and of a tensor ("model.layers.2.self_attn.k_proj.weight").
    QTreeWidgetItem* unitItem(const QString& unit) const;
    QTreeWidgetItem* tensorItem(const QString& tensor) const;
    /// The menu shown on right-click over `item` (caller owns it): "Pin <unit> to" -> one action per format
    /// (objectName "pin:<format>"), "Clear pin" ("unpin"), "Clear all pins" ("unpinAll").
    QMenu* createContextMenu(QTreeWidgetItem* item, QWidget* parent = nullptr);

signals:
    void pinRequested(const QString& unit, const QString& format);
    void unpinRequested(const QString& unit);
    void clearPinsRequested();

private:
    QTreeWidgetItem* addUnit(QTreeWidgetItem* parent, const io::QuantUnit& u, const QString& label);
    void showMenu(const QPoint& pos);

    std::vector<quant::QuantFormat> m_candidates;
    std::map<std::string, QTreeWidgetItem*> m_units;
    std::map<std::string, QTreeWidgetItem*> m_tensors;
    std::map<std::string, bool> m_pinned;
};

}  // namespace mixq::ui
