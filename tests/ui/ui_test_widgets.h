// SPDX-License-Identifier: MIT
// Widget helpers for GUI tests: a simulated drag-and-drop of local URLs, screenshots into
// <build>/screenshots, and the demo model's scores computed directly with core (the independent reference).
#pragma once
#include <QApplication>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QImage>
#include <QMimeData>
#include <QUrl>
#include <QtTest>
#include <memory>

#include "core/io/model.h"
#include "core/score/calibration.h"
#include "core/score/scorer.h"
#include "core/tokenizer/tokenizer.h"
#include "ui/widget_capture.h"

namespace mixq_test {

/// Sends a drag-enter and a drop of `urls` at the widget centre; returns whether the drop was accepted.
inline bool drop_urls(QWidget* w, const QList<QUrl>& urls) {
    QMimeData mime;
    mime.setUrls(urls);
    const QPoint at = w->rect().center();
    QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(w, &enter);
    if (!enter.isAccepted()) return false;
    QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(w, &drop);
    return drop.isAccepted();
}

inline QString screenshot_dir() {
    const QString dir = QString(MIXQ_BINARY_DIR) + "/screenshots";
    QDir().mkpath(dir);
    return dir;
}

/// Grabs `w` into <build>/screenshots/<name> and checks the PNG reads back at the widget's size.
inline void save_shot(QWidget* w, const QString& name) {
    QApplication::processEvents();
    const QString path = screenshot_dir() + "/" + name;
    mixq::ui::save_widget_png(w, path);
    QImage img(path);
    QVERIFY2(!img.isNull(), qPrintable(path));
    QCOMPARE(img.size(), w->size() * w->devicePixelRatioF());
}

/// Scores a model directly with core (built-in calibration), as the reference for what the GUI shows.
inline mixq::score::ScoreTable reference_scores(const std::shared_ptr<const mixq::io::Model>& model, int samples,
                                                int seq_len, const std::string& mode) {
    auto tok = mixq::tok::Tokenizer::from_file(model->tokenizer_path());
    const auto calib = mixq::score::load_calibration(*tok, {}, samples, seq_len);
    mixq::score::ScoreOptions opt;
    opt.mode = mode;
    return mixq::score::score_model(model, calib, opt);
}

}  // namespace mixq_test
