// SPDX-License-Identifier: MIT
// parse_studio_args: a small strict parser (unknown options and extra positionals are errors).
#include "ui/studio_options.h"

#include "core/common/error.h"

namespace mixq::ui {

QString studio_usage() {
    return QStringLiteral(
        "usage: mixq-studio [MODEL] [--scores FILE] [--screenshot FILE.png]\n"
        "  MODEL               Hugging Face model folder to open at start\n"
        "  --scores FILE       scores.json to show in the sensitivity heatmap\n"
        "  --screenshot FILE   open the model (the demo model when none is given), wait until every job is done,\n"
        "                      save the main window as PNG and exit (works with QT_QPA_PLATFORM=offscreen)\n"
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
        } else if (a.startsWith('-') && a.size() > 1) {
            fail("mixq-studio", "unknown option " + a.toStdString());
        } else if (o.model.isEmpty()) {
            o.model = a;
        } else {
            fail("mixq-studio", "more than one MODEL given ('" + o.model.toStdString() + "', '" + a.toStdString() + "')");
        }
    }
    if (!o.screenshot.isEmpty() && !o.screenshot.endsWith(".png", Qt::CaseInsensitive))
        fail("mixq-studio", "--screenshot needs a .png file name");
    return o;
}

}  // namespace mixq::ui
