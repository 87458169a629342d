// SPDX-License-Identifier: MIT
// ScreenshotSession: idle detection via MainWindow::busyChanged, then grab + atomic PNG write.
#include "ui/screenshot_session.h"

#include "core/common/error.h"
#include "ui/main_window.h"
#include "ui/widget_capture.h"

namespace mixq::ui {

ScreenshotSession::ScreenshotSession(MainWindow* window, QString png_path, int timeout_ms)
    : QObject(window), m_window(window), m_path(std::move(png_path)) {
    m_settle.setSingleShot(true);
    m_settle.setInterval(150);  // let queued replots and layouts run before grabbing
    m_timeout.setSingleShot(true);
    m_timeout.setInterval(timeout_ms);
    connect(&m_settle, &QTimer::timeout, this, &ScreenshotSession::maybeCapture);
    connect(&m_timeout, &QTimer::timeout, this,
            [this] { finish(2, "mixq-studio: timed out waiting for jobs to finish before the screenshot"); });
    connect(window, &MainWindow::errorReported, this, [this](const QString& title, const QString& message) {
        if (m_error.isEmpty()) m_error = title + ": " + message;
    });
    connect(window, &MainWindow::busyChanged, this, [this](bool busy) {
        if (busy)
            m_settle.stop();
        else
            m_settle.start();
    });
}

void ScreenshotSession::start() {
    m_timeout.start();
    if (!m_window->isBusy()) m_settle.start();
}

void ScreenshotSession::maybeCapture() {
    if (m_done || m_window->isBusy()) return;
    if (!m_error.isEmpty()) {
        finish(1, m_error);
        return;
    }
    QWidget* target = m_window;
    if (m_prepare) target = m_prepare();
    if (m_window->isBusy()) return;  // the view started a job (an evaluation): grab when it is done
    if (!m_error.isEmpty() || !target) {
        finish(1, m_error.isEmpty() ? QString("mixq-studio: nothing to capture") : m_error);
        return;
    }
    try {
        save_widget_png(target, m_path);
    } catch (const Error& e) {
        finish(1, QString::fromStdString(e.what()));
        return;
    }
    finish(0, "screenshot saved to " + m_path);
}

void ScreenshotSession::finish(int code, const QString& message) {
    if (m_done) return;
    m_done = true;
    m_settle.stop();
    m_timeout.stop();
    emit finished(code, message);
}

}  // namespace mixq::ui
