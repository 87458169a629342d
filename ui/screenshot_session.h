// SPDX-License-Identifier: MIT
// ScreenshotSession: waits until the main window is idle (every queued job done), renders it with
// QWidget::grab() to a PNG and reports an exit code; any error reported meanwhile makes it fail.
#pragma once
#include <QObject>
#include <QString>
#include <QTimer>
#include <functional>

class QWidget;

namespace mixq::ui {

class MainWindow;

class ScreenshotSession : public QObject {
    Q_OBJECT
public:
    ScreenshotSession(MainWindow* window, QString png_path, int timeout_ms = 10 * 60 * 1000);
    /// Call after queueing the jobs to wait for; finished() follows once the window has been idle briefly.
    void start();
    /// Called once idle, before grabbing: brings a view forward and returns the widget to grab (default: the window).
    void setPrepare(std::function<QWidget*()> prepare) { m_prepare = std::move(prepare); }

signals:
    /// exit_code 0: saved; 1: a job failed or the PNG could not be written; 2: timed out.
    void finished(int exit_code, const QString& message);

private:
    void maybeCapture();
    void finish(int code, const QString& message);

    MainWindow* m_window;
    QString m_path;
    QTimer m_settle;
    QTimer m_timeout;
    QString m_error;
    std::function<QWidget*()> m_prepare;
    bool m_done = false;
};

}  // namespace mixq::ui
