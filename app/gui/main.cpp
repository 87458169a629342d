// SPDX-License-Identifier: MIT
// mixq-studio: starts the Qt desktop app (all of it lives in ui/).
#include "ui/studio_app.h"

int main(int argc, char** argv) { return mixq::ui::run_studio(argc, argv); }
