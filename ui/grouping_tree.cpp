// SPDX-License-Identifier: MIT
// GroupingTree: rows built from the model layout, plan formats per unit, and the pin context menu.
#include "ui/grouping_tree.h"

#include <QHeaderView>
#include <QMenu>

namespace mixq::ui {

namespace {
/// "model.layers.2.self_attn.q_proj.weight" -> "q_proj"; "lm_head.weight" -> "lm_head".
QString short_tensor(const std::string& name) {
    QStringList parts = QString::fromStdString(name).split('.');
    if (parts.size() >= 2 && parts.last() == "weight") parts.removeLast();
    return parts.isEmpty() ? QString::fromStdString(name) : parts.last();
}

QString unit_label(const io::QuantUnit& u) {
    switch (u.kind) {
        case io::UnitKind::QKV:
            return u.members.size() > 1 ? QObject::tr("Q \u00b7 K \u00b7 V (one unit)") : QObject::tr("QKV (packed)");
        case io::UnitKind::GateUp:
            return u.members.size() > 1 ? QObject::tr("gate | up (one unit)") : QObject::tr("gate_up (fused)");
        case io::UnitKind::TiedEmbedding:
            return QObject::tr("embed_tokens = lm_head (tied)");
        default:
            return u.members.empty() ? QString::fromStdString(u.name) : short_tensor(u.members.front().name);
    }
}

QString shape_text(const io::LinearTensor& t) { return QString("[%1, %2]").arg(t.out_features).arg(t.in_features); }
}  // namespace

GroupingTree::GroupingTree(QWidget* parent) : QTreeWidget(parent) {
    setObjectName("groupingTree");
    setColumnCount(3);
    setHeaderLabels({tr("Unit / tensor"), tr("Format"), tr("KLD")});
    setRootIsDecorated(true);
    setUniformRowHeights(true);
    setAlternatingRowColors(true);
    setSelectionMode(QAbstractItemView::SingleSelection);
    setContextMenuPolicy(Qt::CustomContextMenu);
    header()->setStretchLastSection(false);
    header()->setSectionResizeMode(ColName, QHeaderView::Stretch);
    header()->setSectionResizeMode(ColFormat, QHeaderView::ResizeToContents);
    header()->setSectionResizeMode(ColKld, QHeaderView::ResizeToContents);
    setToolTip(tr("Right-click a unit to pin it to a format"));
    connect(this, &QWidget::customContextMenuRequested, this, &GroupingTree::showMenu);
}

void GroupingTree::clearModel() {
    clear();
    m_units.clear();
    m_tensors.clear();
    m_pinned.clear();
}

QTreeWidgetItem* GroupingTree::addUnit(QTreeWidgetItem* parent, const io::QuantUnit& u, const QString& label) {
    auto* item = new QTreeWidgetItem(parent, {label});
    const QString unit = QString::fromStdString(u.name);
    item->setData(ColName, UnitRole, unit);
    m_units[u.name] = item;
    QString tip = QString("<b>%1</b>").arg(unit.toHtmlEscaped());
    if (u.members.size() == 1) {
        item->setData(ColName, TensorRole, QString::fromStdString(u.members.front().name));
        m_tensors[u.members.front().name] = item;
        tip += "<br/><tt>" + QString::fromStdString(u.members.front().name) + "</tt> " + shape_text(u.members.front());
    } else {
        tip += tr("<br/>%1 tensors that always share one format").arg(u.members.size());
        for (const auto& m : u.members) {
            auto* child = new QTreeWidgetItem(item, {short_tensor(m.name)});
            child->setData(ColName, UnitRole, unit);
            child->setData(ColName, TensorRole, QString::fromStdString(m.name));
            child->setToolTip(ColName, QString("<tt>%1</tt> %2<br/>part of unit %3")
                                           .arg(QString::fromStdString(m.name), shape_text(m), unit));
            m_tensors[m.name] = child;
        }
    }
    item->setToolTip(ColName, tip);
    return item;
}

void GroupingTree::setModelLayout(const io::ModelLayout& layout, int num_layers) {
    clearModel();
    std::vector<QTreeWidgetItem*> layers;
    for (int l = 0; l < num_layers; ++l) {
        auto* item = new QTreeWidgetItem(this, {tr("Layer %1").arg(l)});
        item->setFirstColumnSpanned(false);
        layers.push_back(item);
    }
    QTreeWidgetItem* model_row = nullptr;
    for (const auto& u : layout.units) {
        QTreeWidgetItem* parent = nullptr;
        if (u.layer >= 0 && u.layer < num_layers) {
            parent = layers[static_cast<size_t>(u.layer)];
        } else {
            if (!model_row) model_row = new QTreeWidgetItem(this, {tr("Embeddings / LM head")});
            parent = model_row;
        }
        QTreeWidgetItem* item = addUnit(parent, u, unit_label(u));
        if (u.members.size() > 1) item->setExpanded(u.layer <= 0);
    }
    if (!layers.empty()) layers.front()->setExpanded(true);
    if (model_row) model_row->setExpanded(true);
}

void GroupingTree::setCandidates(const std::vector<quant::QuantFormat>& candidates) {
    m_candidates.clear();
    for (const auto& f : candidates)
        if (!f.is_float()) m_candidates.push_back(f);  // fp16 is always offered, once
}

void GroupingTree::setPlan(const plan::Plan* plan) {
    m_pinned.clear();
    auto paint = [](QTreeWidgetItem* item, const QString& format, const QString& kld, bool pinned) {
        item->setText(ColFormat, pinned ? format + QStringLiteral("  \u25cf pinned") : format);
        item->setData(ColFormat, FormatRole, format);
        item->setData(ColFormat, PinnedRole, pinned);
        item->setText(ColKld, kld);
        QFont f = item->font(ColFormat);
        f.setBold(pinned);
        item->setFont(ColFormat, f);
        item->setForeground(ColFormat, pinned ? QBrush(QColor(194, 65, 12)) : QBrush());
        item->setToolTip(ColFormat, pinned ? QObject::tr("pinned by you; right-click to clear") : QString());
    };
    std::map<std::string, const plan::PlannedUnit*> by_name;
    if (plan)
        for (const auto& u : plan->units) by_name[u.name] = &u;
    auto find = [&by_name](const std::string& name) -> const plan::PlannedUnit* {
        auto it = by_name.find(name);
        return it == by_name.end() ? nullptr : it->second;
    };
    for (auto& [name, item] : m_units) {
        const plan::PlannedUnit* pu = find(name);
        const QString format = pu ? QString::fromStdString(pu->format.name()) : QString();
        const QString kld = pu ? (pu->has_kld ? QString::number(pu->kld, 'g', 3) : QStringLiteral("?")) : QString();
        const bool pinned = pu && pu->pinned;
        m_pinned[name] = pinned;
        paint(item, format, kld, pinned);
        for (int c = 0; c < item->childCount(); ++c) paint(item->child(c), format, QString(), pinned);
    }
    // Layer rows: the layer's average bits under the plan.
    for (int i = 0; i < topLevelItemCount(); ++i) {
        QTreeWidgetItem* layer = topLevelItem(i);
        uint64_t bits = 0;
        int64_t weights = 0;
        for (int c = 0; c < layer->childCount(); ++c) {
            const plan::PlannedUnit* pu = find(layer->child(c)->data(ColName, UnitRole).toString().toStdString());
            if (!pu) continue;
            bits += pu->storage_bits;
            weights += pu->weights;
        }
        layer->setText(ColFormat, weights > 0 ? tr("%1 bits avg").arg(double(bits) / double(weights), 0, 'f', 2) : QString());
        layer->setForeground(ColFormat, QBrush(QColor(100, 116, 139)));
    }
}

QTreeWidgetItem* GroupingTree::unitItem(const QString& unit) const {
    auto it = m_units.find(unit.toStdString());
    return it == m_units.end() ? nullptr : it->second;
}

QTreeWidgetItem* GroupingTree::tensorItem(const QString& tensor) const {
    auto it = m_tensors.find(tensor.toStdString());
    return it == m_tensors.end() ? nullptr : it->second;
}

QMenu* GroupingTree::createContextMenu(QTreeWidgetItem* item, QWidget* parent) {
    auto* menu = new QMenu(parent ? parent : this);
    menu->setObjectName("groupingMenu");
    const QString unit = item ? item->data(ColName, UnitRole).toString() : QString();
    if (!unit.isEmpty()) {
        QMenu* pin = menu->addMenu(tr("Pin %1 to").arg(unit));
        pin->setObjectName("pinMenu");
        std::vector<quant::QuantFormat> formats = m_candidates;
        formats.push_back(quant::QuantFormat::float16());
        const QString current = item->data(ColFormat, FormatRole).toString();
        for (const auto& f : formats) {
            const QString name = QString::fromStdString(f.name());
            QAction* a = pin->addAction(name);
            a->setObjectName("pin:" + name);
            a->setCheckable(true);
            a->setChecked(m_pinned.count(unit.toStdString()) && m_pinned.at(unit.toStdString()) && name == current);
            connect(a, &QAction::triggered, this, [this, unit, name] { emit pinRequested(unit, name); });
        }
        QAction* unpin = menu->addAction(tr("Clear pin on %1").arg(unit));
        unpin->setObjectName("unpin");
        unpin->setEnabled(m_pinned.count(unit.toStdString()) && m_pinned.at(unit.toStdString()));
        connect(unpin, &QAction::triggered, this, [this, unit] { emit unpinRequested(unit); });
    }
    QAction* all = menu->addAction(tr("Clear all pins"));
    all->setObjectName("unpinAll");
    bool any = false;
    for (const auto& [n, p] : m_pinned) any = any || p;
    all->setEnabled(any);
    connect(all, &QAction::triggered, this, [this] { emit clearPinsRequested(); });
    return menu;
}

void GroupingTree::showMenu(const QPoint& pos) {
    QMenu* menu = createContextMenu(itemAt(pos), this);
    menu->setAttribute(Qt::WA_DeleteOnClose);
    menu->popup(viewport()->mapToGlobal(pos));
}

}  // namespace mixq::ui
