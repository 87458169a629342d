// SPDX-License-Identifier: MIT
// Entry point of the desktop app: parses the GUI's command line (MODEL folder, --screenshot FILE) and runs the
// Qt event loop with the main window.
#pragma once

namespace mixq::ui {
int run_studio(int argc, char** argv);
}
