// SPDX-License-Identifier: MIT
// parse_studio_args: a small strict parser (unknown options and extra positionals are errors).
#include "ui/studio_options.h"

#include <QRegularExpression>

#include "core/common/error.h"
#include "ui/screenshot_views.h"

namespace mixq::ui {

QString studio_usage() {
    return QStringLiteral(
        "usage: mixq-studio [MODEL] [--scores FILE] [--screenshot FILE.png [--view VIEW] [--size WxH]]\n"
        "  MODEL               Hugging Face model folder to open at start\n"
        "  --scores FILE       scores.json to show in the sensitivity heatmap\n"
        "  --screenshot FILE   open the model (the demo model when none is given), wait until every job is done,\n"
        "                      save the main window as PNG and exit (works with QT_QPA_PLATFORM=offscreen)\n"
        "  --view VIEW         what the screenshot shows: main (heatmap, frontier, budget, groups), model (the model\n"
        "                      summary tab), results (the Results dock), log, settings (Settings > Scoring),\n"
        "                      export (File > Export ONNX)\n"
        "  --size WxH          window size for the screenshot (default 1440x900)\n"
        "  --help, --version");
}

StudioOptions parse_studio_args(const QStringList& args) {
    StudioOptions o;
    auto value = [&](int& i, const QString& opt) -> QString {
        const QString a = args[i];
        const int eq = a.indexOf('=');
        if (eq > 0) return a.mid(eq + 1);
        if (i + 1 >= args.size()) fail("mixq-studio", opt.toStdString() + " needs a value");
        return args[++i];
    };
    // Qt's own command-line options (QApplication consumes them): skipped here, with their values.
    static const QStringList qt_with_value = {"-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-style",
                                              "-stylesheet", "-qwindowgeometry", "-qwindowtitle", "-qwindowicon",
                                              "-display", "-session", "-geometry"};
    static const QStringList qt_flags = {"-reverse", "-widgetcount", "-nograb", "-dograb", "-sync"};
    for (int i = 1; i < args.size(); ++i) {
        const QString a = args[i];
        const QString name = a.section('=', 0, 0);
        if (qt_with_value.contains(a)) {
            ++i;
        } else if (qt_flags.contains(a)) {
            continue;
        } else if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--version") {
            o.version = true;
        } else if (name == "--scores") {
            o.scores = value(i, name);
        } else if (name == "--screenshot") {
            o.screenshot = value(i, name);
        } else if (name == "--view") {
            o.view = value(i, name);
            if (!screenshot_views().contains(o.view))
                fail("mixq-studio", "--view must be one of " + screenshot_views().join(", ").toStdString());
        } else if (name == "--size") {
            const QString v = value(i, name);
            bool okw = false, okh = false;
            o.width = v.section('x', 0, 0).toInt(&okw);
            o.height = v.section('x', 1, 1).toInt(&okh);
            if (!okw || !okh || o.width < 320 || o.height < 240 || o.width > 8192 || o.height > 8192)
                fail("mixq-studio", "--size needs WIDTHxHEIGHT in pixels (320x240 to 8192x8192), got '" + v.toStdString() + "'");
        } else if (a.startsWith('-') && a.size() > 1) {
            fail("mixq-studio", "unknown option " + a.toStdString());
        } else if (o.model.isEmpty()) {
            o.model = a;
        } else {
            fail("mixq-studio", "more than one MODEL given ('" + o.model.toStdString() + "', '" + a.toStdString() + "')");
        }
    }
    if (o.screenshot.isEmpty() && (args.filter(QRegularExpression("^--(view|size)")).size() > 0))
        fail("mixq-studio", "--view and --size go with --screenshot");
    if (!o.screenshot.isEmpty() && !o.screenshot.endsWith(".png", Qt::CaseInsensitive))
        fail("mixq-studio", "--screenshot needs a .png file name");
    return o;
}

}  // namespace mixq::ui
