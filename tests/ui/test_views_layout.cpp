// SPDX-License-Identifier: MIT
// Panels and charts (issue 19 items 8, 9, 10, 13, 14), offscreen on the demo model with made-up scores: the
// frontier's legend sits outside the data, its axes stay put while the budget moves and the current label stays
// inside and no label covers another; a frontier click sets the budget, a heatmap click selects the unit in the groups tree and a right-click
// pins it; cells show bits and group size; every budget control is whole at 1024x700 and after growing back;
// plan files remember their folder and say so in the status bar; the spin box clamps; drops of a model folder, a
// file inside one and a non-model folder.
#include <QAction>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTreeWidget>
#include <QtTest>

#include "qcustomplot.h"
#include "test_support.h"
#include "ui/budget_panel.h"
#include "ui/frontier_plot.h"
#include "ui/grouping_tree.h"
#include "ui/main_window.h"
#include "ui/plan_controller.h"
#include "ui/sensitivity_heatmap.h"
#include "ui_test_env.h"
#include "ui_test_fakes.h"
#include "ui_test_widgets.h"

using namespace mixq;
using ui::MainWindow;

namespace {

bool prepare(MainWindow& w) {
    w.setAutoScore(false);
    w.setErrorDialogsEnabled(false);
    w.setRememberRecent(false);
    QSignalSpy loaded(&w, &MainWindow::modelLoaded);
    w.openDemoModel();
    if (!QTest::qWaitFor([&] { return loaded.count() == 1; }, 20000)) return false;
    w.setScores(mixq_test::fake_scores(*w.model()));
    return QTest::qWaitFor([&] { return !w.isBusy() && w.plans()->hasPlan(); }, 20000);
}

/// True when every pixel of `w` is on screen: not clipped by a parent (scroll area, splitter, dock).
bool whole(QWidget* w) { return w->isVisible() && w->visibleRegion().boundingRect() == w->rect(); }

void settle(QCustomPlot* p) {
    p->replot();
    QApplication::processEvents();
}

}  // namespace

class TestViewsLayout : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { mixq_test::isolate_user_state("ui_views_layout"); }

    void frontier_legend_axes_and_labels() {
        MainWindow w;
        w.resize(1024, 700);
        w.show();
        QVERIFY(prepare(w));
        QCustomPlot* p = w.frontierPlot()->plot();
        settle(p);
        QVERIFY(!p->axisRect()->insetLayout()->elements(false).contains(p->legend));
        QVERIFY(!p->legend->outerRect().intersects(p->axisRect()->rect()));
        // Axis ranges are fixed per scores table: moving the budget over its whole range leaves them alone, and the
        // current plan's label stays inside the plot.
        const QCPRange x = p->xAxis->range(), y = p->yAxis->range();
        QSlider* slider = w.budgetPanel()->slider();
        for (int k = slider->minimum(); k <= slider->maximum(); k += 20) {
            slider->setValue(k);
            settle(p);
            QCOMPARE(p->xAxis->range().lower, x.lower);
            QCOMPARE(p->xAxis->range().upper, x.upper);
            QCOMPARE(p->yAxis->range().lower, y.lower);
            QCOMPARE(p->yAxis->range().upper, y.upper);
            QCPItemText* label = nullptr;
            for (int i = 0; i < p->itemCount(); ++i) {
                auto* t = qobject_cast<QCPItemText*>(p->item(i));
                if (t && t->visible() && t->text().contains("bits, KLD")) label = t;
            }
            QVERIFY(label);
            const QRect inside = p->axisRect()->rect().adjusted(-1, -1, 1, 1);
            QVERIFY2(inside.contains(label->topLeft->pixelPosition().toPoint()) &&
                         inside.contains(label->bottomRight->pixelPosition().toPoint()),
                     qPrintable(QString("label '%1' at target %2 leaves the plot").arg(label->text()).arg(k / 20.0)));
            // No label covers another (the current plan's and the uniform plans' labels collided near 5 bits).
            std::vector<std::pair<QString, QRectF>> labels;
            for (int i = 0; i < p->itemCount(); ++i)
                if (auto* t = qobject_cast<QCPItemText*>(p->item(i)); t && t->visible())
                    labels.emplace_back(t->text(), QRectF(t->topLeft->pixelPosition(), t->bottomRight->pixelPosition())
                                                       .normalized()
                                                       .adjusted(1, 1, -1, -1));
            QVERIFY(labels.size() >= 2);  // the current plan's and at least one uniform plan's (a crowded one may go)
            for (size_t a = 0; a < labels.size(); ++a)
                for (size_t b = a + 1; b < labels.size(); ++b)
                    QVERIFY2(!labels[a].second.intersects(labels[b].second),
                             qPrintable(QString("'%1' covers '%2' at target %3").arg(labels[a].first, labels[b].first).arg(k / 20.0)));
        }
    }

    void clicks_on_frontier_and_heatmap() {
        MainWindow w;
        w.resize(1360, 860);
        w.show();
        QVERIFY(prepare(w));
        QCustomPlot* p = w.frontierPlot()->plot();
        settle(p);
        // Click a frontier point: the budget becomes that point's average (on the 0.05 grid).
        const auto& frontier = w.plans()->planner()->frontier();
        const auto& pt = frontier[frontier.size() / 3];
        const QPoint at(int(p->xAxis->coordToPixel(pt.avg_bits)), int(p->yAxis->coordToPixel(pt.predicted_kld)));
        QSignalSpy picked(w.frontierPlot(), &ui::FrontierPlot::pointPicked);
        QTest::mouseClick(p, Qt::LeftButton, Qt::NoModifier, at);
        QCOMPARE(picked.count(), 1);
        QCOMPARE(w.plans()->mode(), ui::PlanController::Mode::Target);
        QVERIFY2(std::abs(w.plans()->target() - std::ceil(pt.avg_bits * 20 - 1e-9) / 20) < 1e-9,
                 qPrintable(QString("target %1 for a point at %2 bits").arg(w.plans()->target()).arg(pt.avg_bits)));
        QVERIFY(w.plans()->plan().avg_bits <= w.plans()->target() + 1e-9);

        // Heatmap: a cell shows bits and group size; a click selects its unit in the groups tree.
        ui::SensitivityHeatmap* h = w.heatmap();
        const QString label = h->cellLabel(2, 6);  // layers.2.down
        QVERIFY2(QRegularExpression(QString("^(4|8)") + QChar(0x00b7) + "g\\d+$").match(label).hasMatch() || label == "16", qPrintable(label));
        QCustomPlot* hp = h->plot();
        settle(hp);
        QTest::mouseClick(hp, Qt::LeftButton, Qt::NoModifier, h->cellCenter(2, 6));
        QTreeWidgetItem* current = w.groupingTree()->currentItem();
        QVERIFY(current);
        QCOMPARE(current->data(0, ui::GroupingTree::UnitRole).toString(), QString("layers.2.down"));
        QCOMPARE(w.sideTabs()->currentWidget(), static_cast<QWidget*>(w.groupingTree()));
        // Right-click: the pin menu, and its action pins the unit.
        QTest::mouseClick(hp, Qt::RightButton, Qt::NoModifier, h->cellCenter(2, 6));
        QMenu* menu = h->findChild<QMenu*>("heatmapPinMenu");
        QVERIFY(menu);
        QAction* pin = menu->findChild<QAction*>("pin:fp16");
        QVERIFY(pin);
        pin->trigger();
        menu->close();
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(QString::fromStdString(w.plans()->pins().at("layers.2.down")), QString("fp16"));
        QTRY_COMPARE(h->cellText(2, 6), QString("16"));
    }

    void budget_controls_whole_at_1024x700() {
        MainWindow w;
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(prepare(w));
        QApplication::processEvents();
        ui::BudgetPanel* b = w.budgetPanel();
        auto check = [&](const char* when) {
            QApplication::processEvents();
            // The window really is that size: no minimum size forces it larger (and off a 700-pixel screen).
            QVERIFY2(w.minimumSizeHint().height() <= 700 && w.minimumSizeHint().width() <= 1024,
                     qPrintable(QString("minimum %1x%2").arg(w.minimumSizeHint().width()).arg(w.minimumSizeHint().height())));
            for (QWidget* c : {static_cast<QWidget*>(b->presetBox()), static_cast<QWidget*>(b->spinBox()),
                               static_cast<QWidget*>(b->slider()), static_cast<QWidget*>(b->findChild<QLabel*>("budgetRange"))})
                QVERIFY2(whole(c), qPrintable(QString("%1 %2: %3 of %4 visible").arg(when, c->objectName())
                                                  .arg(QString("%1x%2").arg(c->visibleRegion().boundingRect().width()).arg(c->visibleRegion().boundingRect().height()))
                                                  .arg(QString("%1x%2").arg(c->width()).arg(c->height()))));
        };
        check("1024x700");
        QCOMPARE(w.size(), QSize(1024, 700));
        // The longest scoring note does not widen the window (it did: 1162 pixels after scoring).
        w.heatmap()->setStatusNote("exact: 10 of 25 units (others: fast estimate, provisional)");
        check("1024x700 with a scoring note");
        QCOMPARE(w.size(), QSize(1024, 700));
        w.resize(1600, 1000);
        check("1600x1000");
        w.resize(1024, 700);
        check("1024x700 again");
        QCOMPARE(w.size(), QSize(1024, 700));
        mixq_test::save_shot(&w, "20_main_1024x700.png");
    }

    void plan_files_and_spin_box() {
        MainWindow w;
        w.show();
        QVERIFY(prepare(w));
        const auto dir = mixq_test::scratch("ui_views_plan_dir");
        const QString file = QString::fromStdString((dir / "p.json").string());
        QVERIFY(w.savePlan(file));
        QVERIFY2(w.statusBar()->currentMessage().contains("Plan saved"), qPrintable(w.statusBar()->currentMessage()));
        QCOMPARE(QDir(w.planFolder()).absolutePath(), QDir(QString::fromStdString(dir.string())).absolutePath());
        MainWindow again;  // remembered across windows (QSettings)
        QCOMPARE(QDir(again.planFolder()).absolutePath(), QDir(QString::fromStdString(dir.string())).absolutePath());

        // Out-of-range input is clamped to the nearest allowed value instead of reverting.
        QDoubleSpinBox* spin = w.budgetPanel()->spinBox();
        spin->setFocus();
        spin->findChild<QLineEdit*>()->selectAll();
        QTest::keyClicks(spin, "3");
        QTest::keyClick(spin, Qt::Key_Return);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(spin->value(), spin->minimum());
        QCOMPARE(w.plans()->target(), spin->minimum());
    }

    void drops() {
        MainWindow w;
        w.setAutoScore(false);
        w.setErrorDialogsEnabled(false);
        w.setRememberRecent(false);
        w.show();
        QSignalSpy loaded(&w, &MainWindow::modelLoaded);
        QSignalSpy errors(&w, &MainWindow::errorReported);
        const QString demo = QString::fromStdString(mixq_test::demo_model().string());
        // A file inside a model folder opens the folder.
        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(demo + "/config.json")}));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QCOMPARE(QDir(loaded.at(0).at(0).toString()).absolutePath(), QDir(demo).absolutePath());
        QTRY_VERIFY(!w.isBusy());
        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(demo + "/model.safetensors")}));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 2, 20000);
        QTRY_VERIFY(!w.isBusy());
        // The folder itself.
        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(demo)}));
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 3, 20000);
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(errors.count(), 0);
        // A folder that is not a model: one error naming it, the open model stays.
        const auto other = mixq_test::scratch("ui_views_not_a_model");
        QVERIFY(mixq_test::drop_urls(&w, {QUrl::fromLocalFile(QString::fromStdString(other.string()))}));
        QTRY_COMPARE_WITH_TIMEOUT(errors.count(), 1, 20000);
        QVERIFY(errors.at(0).at(1).toString().contains(QString::fromStdString(other.filename().string())));
        QTRY_VERIFY(!w.isBusy());
        QCOMPARE(loaded.count(), 3);
        QVERIFY(w.model());
    }
};

QTEST_MAIN(TestViewsLayout)
#include "test_views_layout.moc"
