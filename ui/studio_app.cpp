// SPDX-License-Identifier: MIT
// run_studio: QApplication set-up, command line, the main window, and the --screenshot mode.
#include "ui/studio_app.h"

#include <QApplication>
#include <QIcon>
#include <cstdio>
#include <cstdlib>

#include "core/common/error.h"
#include "core/io/model.h"
#include "ui/main_window.h"
#include "ui/screenshot_session.h"
#include "ui/screenshot_views.h"
#include "ui/studio_options.h"

// Q_INIT_RESOURCE must run outside any namespace; mixq_ui is a static library, so its resources need it.
static void init_studio_resources() { Q_INIT_RESOURCE(mixq); }

namespace mixq::ui {

namespace {
/// Screenshot mode needs no display: pick the offscreen platform when none was chosen and none is available.
void prefer_offscreen_for_screenshots(bool screenshot) {
    if (!screenshot || std::getenv("QT_QPA_PLATFORM")) return;
    if (std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY")) return;
    qputenv("QT_QPA_PLATFORM", "offscreen");
}
}  // namespace

int run_studio(int argc, char** argv) {
    // Parse before QApplication exists, so --help and usage errors work without any display.
    QStringList args;
    for (int i = 0; i < argc; ++i) args << QString::fromLocal8Bit(argv[i]);
    StudioOptions opt;
    try {
        opt = parse_studio_args(args);
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n%s\n", e.what(), qPrintable(studio_usage()));
        return 2;
    }
    if (opt.help) {
        std::printf("%s\n", qPrintable(studio_usage()));
        return 0;
    }
    if (opt.version) {
        std::printf("mixq-studio %s\n", MIXQ_VERSION);
        return 0;
    }

    prefer_offscreen_for_screenshots(!opt.screenshot.isEmpty());
    QApplication app(argc, argv);
    init_studio_resources();
    QApplication::setOrganizationName("MixQ");
    QApplication::setApplicationName("MixQ Studio");
    QApplication::setApplicationVersion(MIXQ_VERSION);
    QApplication::setWindowIcon(QIcon(":/mixq/mixq-studio.svg"));

    MainWindow window;
    const bool screenshot = !opt.screenshot.isEmpty();
    if (screenshot) {
        window.setErrorDialogsEnabled(false);
        window.setRememberRecent(false);  // a scripted capture leaves the user's recent list alone
        window.resize(opt.width, opt.height);
    }
    window.show();
    if (!opt.model.isEmpty())
        window.openModel(opt.model);
    else if (screenshot)
        window.openDemoModel();
    if (!opt.scores.isEmpty()) window.loadScores(opt.scores);

    if (screenshot) {
        auto* session = new ScreenshotSession(&window, opt.screenshot);
        const QString view = opt.view;
        session->setPrepare([&window, view] { return prepare_screenshot_view(window, view); });
        QObject::connect(session, &ScreenshotSession::finished, &app, [](int code, const QString& message) {
            std::fprintf(code == 0 ? stdout : stderr, "%s\n", qPrintable(message));
            QCoreApplication::exit(code);
        });
        session->start();
    }
    return app.exec();
}

}  // namespace mixq::ui
