// SPDX-License-Identifier: MIT
// The QKV grouping tree on real demo-model scores: rows follow the model layout (layer -> Q.K.V group with the
// q/k/v tensors, o, gate|up group, down; embeddings), Q, K and V of every block always show one format (the
// plan's, also in the heatmap), and pinning through the tree's context-menu actions gives the plan an
// independently built Planner with the same pin gives; clearing pins returns to the unpinned optimum.
#include <QAction>
#include <QMenu>
#include <QSignalSpy>
#include <QSlider>

#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/planner.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/grouping_tree.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui_test_env.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::GroupingTree;
using ui::MainWindow;
using Names = io::TensorNames;

namespace {
QString fmt(QTreeWidgetItem* item) { return item->data(GroupingTree::ColFormat, GroupingTree::FormatRole).toString(); }
bool pinned(QTreeWidgetItem* item) { return item->data(GroupingTree::ColFormat, GroupingTree::PinnedRole).toBool(); }
QString tensor(QTreeWidgetItem* item) { return item->data(GroupingTree::ColName, GroupingTree::TensorRole).toString(); }

std::map<std::string, std::string> formats_of(const plan::Plan& p) {
    std::map<std::string, std::string> m;
    for (const auto& u : p.units) m[u.name] = u.format.name();
    return m;
}

/// Smallest grid target (k/20) a planner accepts, found by trying.
int first_feasible_k(const plan::Planner& p) {
    for (int k = 1; k <= 320; ++k) {
        try {
            p.plan_for_target(k / 20.0);
            return k;
        } catch (const Error&) {
        }
    }
    return -1;
}
}  // namespace

class TestGroupingTree : public QObject {
    Q_OBJECT
    std::unique_ptr<MainWindow> m_w;
    score::ScoreTable m_table;
    plan::PlannerOptions m_opts;

    GroupingTree* tree() const { return m_w->groupingTree(); }

    /// Triggers the context-menu action `name` of `item`, as a right-click then a menu choice would.
    void trigger_menu(QTreeWidgetItem* item, const QString& name) {
        std::unique_ptr<QMenu> menu(tree()->createContextMenu(item));
        QAction* a = menu->findChild<QAction*>(name);
        QVERIFY2(a, qPrintable(name));
        QVERIFY2(a->isEnabled(), qPrintable(name));
        a->trigger();
        QTRY_VERIFY(!m_w->isBusy());  // the planner with the new pins is built
    }

private slots:
    void initTestCase() {
        mixq_test::isolate_user_state("ui_grouping_tree");
        m_w = std::make_unique<MainWindow>();
        m_w->setErrorDialogsEnabled(false);
        m_w->setRememberRecent(false);
        m_w->setAutoScore(false);
        m_w->resize(1440, 900);
        m_w->show();
        QSignalSpy loaded(m_w.get(), &MainWindow::modelLoaded);
        m_w->openDemoModel();
        QTRY_COMPARE(loaded.count(), 1);
        m_table = mixq_test::reference_scores(m_w->model(), 4, 32, "exact");
        m_opts = plan::planner_options_for(*m_w->model(), m_table);
        m_w->setScores(m_table);
        QTRY_VERIFY(!m_w->isBusy());
    }

    void rows_follow_the_layout() {
        const auto& cfg = m_w->model()->config();
        QCOMPARE(tree()->topLevelItemCount(), cfg.num_layers + 1);
        for (int l = 0; l < cfg.num_layers; ++l) {
            const QString p = QString("layers.%1.").arg(l);
            QTreeWidgetItem* layer = tree()->topLevelItem(l);
            QCOMPARE(layer->childCount(), 4);
            QTreeWidgetItem* qkv = tree()->unitItem(p + "qkv");
            QVERIFY(qkv && qkv->parent() == layer);
            QCOMPARE(qkv->childCount(), 3);
            QCOMPARE(tensor(qkv->child(0)), QString::fromStdString(Names::q(l)));
            QCOMPARE(tensor(qkv->child(1)), QString::fromStdString(Names::k(l)));
            QCOMPARE(tensor(qkv->child(2)), QString::fromStdString(Names::v(l)));
            QTreeWidgetItem* gu = tree()->unitItem(p + "gate_up");
            QVERIFY(gu && gu->parent() == layer);
            QCOMPARE(gu->childCount(), 2);
            QCOMPARE(tensor(gu->child(0)), QString::fromStdString(Names::gate(l)));
            QCOMPARE(tensor(gu->child(1)), QString::fromStdString(Names::up(l)));
            QCOMPARE(tensor(tree()->unitItem(p + "o")), QString::fromStdString(Names::o(l)));
            QCOMPARE(tensor(tree()->unitItem(p + "down")), QString::fromStdString(Names::down(l)));
        }
        // Tied demo model: one embeddings / lm_head unit holding the embedding table.
        QTreeWidgetItem* tied = tree()->unitItem("tied_embedding");
        QVERIFY(tied && tied->parent() == tree()->topLevelItem(cfg.num_layers));
        QCOMPARE(tensor(tied), QString::fromStdString(Names::embed()));
    }

    void qkv_of_every_block_show_one_format() {
        std::set<QString> seen;
        const int kmin = m_w->budgetPanel()->slider()->minimum();
        for (int k : {kmin, kmin + 4, 100, 115, 140, 170, 230, 320}) {
            m_w->budgetPanel()->slider()->setValue(std::max(k, kmin));
            const plan::Plan& plan = m_w->plans()->plan();
            for (int l = 0; l < m_w->model()->config().num_layers; ++l) {
                const std::string unit = "layers." + std::to_string(l) + ".qkv";
                const QString want = QString::fromStdString(plan.find(unit)->format.name());
                QTreeWidgetItem* q = tree()->tensorItem(QString::fromStdString(Names::q(l)));
                QTreeWidgetItem* kk = tree()->tensorItem(QString::fromStdString(Names::k(l)));
                QTreeWidgetItem* v = tree()->tensorItem(QString::fromStdString(Names::v(l)));
                QCOMPARE(fmt(q), want);
                QCOMPARE(fmt(kk), want);
                QCOMPARE(fmt(v), want);
                QCOMPARE(fmt(tree()->unitItem(QString::fromStdString(unit))), want);
                const QString bits = QString::number(plan.find(unit)->format.bits);
                for (int col = 0; col < 3; ++col) QCOMPARE(m_w->heatmap()->cellText(l, col), bits);
                seen.insert(want);
            }
        }
        QVERIFY(seen.size() >= 2);  // the QKV units did change format along the way
    }

    void context_menu_lists_formats_and_pin_actions() {
        std::unique_ptr<QMenu> menu(tree()->createContextMenu(tree()->unitItem("layers.1.o")));
        for (const auto& c : m_table.candidates)
            QVERIFY(menu->findChild<QAction*>("pin:" + QString::fromStdString(c.name())));
        QVERIFY(menu->findChild<QAction*>("pin:fp16"));
        QCOMPARE(menu->findChildren<QAction*>(QRegularExpression("^pin:")).size(), int(m_table.candidates.size()) + 1);
        QVERIFY(!menu->findChild<QAction*>("unpin")->isEnabled());  // nothing pinned yet
        std::unique_ptr<QMenu> layer_menu(tree()->createContextMenu(tree()->topLevelItem(0)));
        QVERIFY(!layer_menu->findChild<QAction*>("pin:fp16"));
        QVERIFY(layer_menu->findChild<QAction*>("unpinAll"));
    }

    void pin_through_context_menu_is_honoured() {
        m_w->budgetPanel()->slider()->setValue(100);  // 5 bits
        const double target = m_w->plans()->target();
        QCOMPARE(target, 5.0);
        // Pin layer 2's QKV to whichever of int8-g128 / int4-g128 the optimum does not choose.
        const std::string unit = "layers.2.qkv";
        const std::string chosen = m_w->plans()->plan().find(unit)->format.name();
        const std::string pin = chosen == "int8-g128" ? "int4-g128" : "int8-g128";
        trigger_menu(tree()->tensorItem(QString::fromStdString(Names::k(2))), "pin:" + QString::fromStdString(pin));

        plan::PlannerOptions o = m_opts;
        o.pins = {plan::parse_pin(unit + "=" + pin)};
        const plan::Planner ref(m_table, o);
        const plan::Plan& got = m_w->plans()->plan();
        QCOMPARE(got.find(unit)->format.name(), pin);
        QVERIFY(got.find(unit)->pinned);
        QVERIFY(formats_of(got) == formats_of(ref.plan_for_target(target)));
        QVERIFY(got.avg_bits <= target);
        for (const std::string& t : {Names::q(2), Names::k(2), Names::v(2)}) {
            QTreeWidgetItem* item = tree()->tensorItem(QString::fromStdString(t));
            QCOMPARE(fmt(item), QString::fromStdString(pin));
            QVERIFY(pinned(item));
            QVERIFY(item->text(GroupingTree::ColFormat).contains("pinned"));
        }
        QVERIFY(!pinned(tree()->unitItem("layers.3.qkv")));
        for (int col = 0; col < 3; ++col) {
            QVERIFY(m_w->heatmap()->cellPinned(2, col));
            QCOMPARE(m_w->heatmap()->cellText(2, col), QString::number(quant::QuantFormat::parse(pin).bits));
        }
        QVERIFY(!m_w->heatmap()->cellPinned(2, 3));
        QVERIFY(m_w->heatmap()->cellToolTip(2, 1).contains("(pinned)"));
        QCOMPARE(m_w->budgetPanel()->value("pins"), QString("1"));
        m_w->sideTabs()->setCurrentIndex(0);
        mixq_test::save_shot(m_w.get(), "15_pinned_qkv.png");

        // Pinning the tied embedding to fp16 raises the smallest reachable target.
        trigger_menu(tree()->unitItem("tied_embedding"), "pin:fp16");
        o.pins.push_back(plan::parse_pin("tied_embedding=fp16"));
        const plan::Planner ref2(m_table, o);
        const int kmin2 = first_feasible_k(ref2);
        QVERIFY(kmin2 > 100);  // a 1024 x 128 fp16 table is a big share of this small model
        QCOMPARE(m_w->budgetPanel()->slider()->minimum(), kmin2);
        QCOMPARE(m_w->plans()->target(), kmin2 / 20.0);  // 5 bits no longer fits: the target moved up
        QVERIFY(formats_of(m_w->plans()->plan()) == formats_of(ref2.plan_for_target(kmin2 / 20.0)));
        QCOMPARE(m_w->plans()->pins().size(), size_t(2));

        // Clear one pin, then all.
        trigger_menu(tree()->unitItem(QString::fromStdString(unit)), "unpin");
        QCOMPARE(m_w->plans()->pins().size(), size_t(1));
        QVERIFY(!pinned(tree()->tensorItem(QString::fromStdString(Names::q(2)))));
        QVERIFY(!m_w->heatmap()->cellPinned(2, 0));
        trigger_menu(tree()->unitItem("layers.0.o"), "unpinAll");
        QVERIFY(m_w->plans()->pins().empty());
        const plan::Planner unpinned(m_table, m_opts);
        QVERIFY(formats_of(m_w->plans()->plan()) == formats_of(unpinned.plan_for_target(m_w->plans()->target())));
        QCOMPARE(m_w->budgetPanel()->slider()->minimum(), first_feasible_k(unpinned));
    }

    void cleanupTestCase() { m_w.reset(); }
};

QTEST_MAIN(TestGroupingTree)
#include "test_grouping_tree.moc"
