// SPDX-License-Identifier: MIT
// LogPanel: the bottom dock's read-only log view; receives JobContext log lines and window events.
#pragma once
#include <QPlainTextEdit>
#include <QStringList>

namespace mixq::ui {

class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    /// The lines appended so far, without their time stamps (oldest first).
    const QStringList& lines() const { return m_lines; }

public slots:
    /// Appends "hh:mm:ss  line" and scrolls to it.
    void appendLine(const QString& line);

private:
    QStringList m_lines;
};

}  // namespace mixq::ui
