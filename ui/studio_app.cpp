// SPDX-License-Identifier: MIT
// run_studio: QApplication set-up and the main window.
#include "ui/studio_app.h"

#include <QApplication>
#include <QLabel>
#include <QMainWindow>

namespace mixq::ui {

int run_studio(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName("MixQ Studio");
    QMainWindow w;
    w.setCentralWidget(new QLabel("MixQ Studio"));
    w.show();
    return app.exec();
}

}  // namespace mixq::ui
