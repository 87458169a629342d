// SPDX-License-Identifier: MIT
// LogPanel: time-stamped, bounded, read-only log view.
#include "ui/log_panel.h"

#include <QFontDatabase>
#include <QScrollBar>
#include <QTime>

namespace mixq::ui {

namespace {
constexpr int kMaxLines = 5000;
}

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent) {
    setObjectName("logPanel");
    setReadOnly(true);
    setAcceptDrops(false);  // drops go to the main window (model folders)
    setMaximumBlockCount(kMaxLines);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setPlaceholderText(tr("Job messages appear here."));
}

void LogPanel::appendLine(const QString& line) {
    m_lines.append(line);
    if (m_lines.size() > kMaxLines) m_lines.removeFirst();
    appendPlainText(QTime::currentTime().toString("hh:mm:ss") + "  " + line);
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

}  // namespace mixq::ui
