// SPDX-License-Identifier: MIT
// StudioOptions: the GUI's command line, `mixq-studio [MODEL] [--scores FILE] [--screenshot FILE.png [--view V]
// [--size WxH]]`.
#pragma once
#include <QString>
#include <QStringList>

namespace mixq::ui {

struct StudioOptions {
    QString model;       ///< folder to open at start ("" = none; the demo model in screenshot mode)
    QString scores;      ///< scores.json to load after the model
    QString screenshot;  ///< PNG to write once idle, then exit
    QString view = "main";  ///< what the screenshot shows (screenshot_views.h)
    int width = 1440, height = 900;  ///< window size in screenshot mode
    bool help = false;
    bool version = false;
};

/// Parses arguments (argv[0] included). Throws mixq::Error with a one-line reason for bad usage.
StudioOptions parse_studio_args(const QStringList& args);
QString studio_usage();

}  // namespace mixq::ui
