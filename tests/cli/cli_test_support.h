// SPDX-License-Identifier: MIT
// Helpers for the CLI tests: run the built `mixq` executable and capture its exit code, stdout and stderr.
#pragma once
#include <QProcess>
#include <QString>
#include <QStringList>
#include <filesystem>

#include "test_support.h"

namespace mixq_cli_test {

struct Run {
    int code = -1;
    QString out, err;
};

inline Run run_mixq(const QStringList& args, int timeout_ms = 600000) {
    QProcess p;
    p.start(MIXQ_CLI_EXE, args);
    p.waitForFinished(timeout_ms);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

inline QString str(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }
inline QString demo() { return str(mixq_test::demo_model()); }

}  // namespace mixq_cli_test
