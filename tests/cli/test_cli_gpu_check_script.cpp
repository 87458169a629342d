// SPDX-License-Identifier: MIT
// scripts/gpu-check.sh (the GPU runs owed, docs/GPU-RUNS.md) cannot run without a GPU, so this checks what can be
// checked anywhere: bash parses it, and every `mixq` subcommand it runs exists with every flag it passes (each
// flag appears in that subcommand's usage line).
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>
#include <map>
#include <set>

#include "cli_test_support.h"

using namespace mixq_cli_test;

namespace {

QString script_path() { return str(std::filesystem::path(MIXQ_SOURCE_RESOURCES).parent_path() / "scripts" / "gpu-check.sh"); }

/// The script's logical lines (backslash continuations joined).
QStringList logical_lines(const QString& text) {
    QStringList out;
    QString cur;
    for (const QString& line : text.split('\n')) {
        if (line.endsWith('\\')) {
            cur += line.chopped(1) + ' ';
            continue;
        }
        out << cur + line;
        cur.clear();
    }
    return out;
}

}  // namespace

class TestCliGpuCheckScript : public QObject {
    Q_OBJECT

private slots:
    void bashParsesIt() {
        QProcess p;
        p.start("bash", {"-n", script_path()});
        QVERIFY(p.waitForFinished(30000));
        QVERIFY2(p.exitCode() == 0, qPrintable(QString::fromUtf8(p.readAllStandardError())));
    }

    void everySubcommandAndFlagExists() {
        QFile f(script_path());
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(f.readAll());
        // `"$B" <subcommand> ...` up to the end of the command (a pipe, redirection, `;`, `)` or `||`).
        const QRegularExpression call(R"re("\$B" ([a-z][a-z0-9-]*)([^|;>)]*))re");
        const QRegularExpression flag(R"re((?:^|\s)(--[a-z][a-z0-9-]*))re");
        std::map<QString, std::set<QString>> used;
        for (const QString& line : logical_lines(text)) {
            auto it = call.globalMatch(line);
            while (it.hasNext()) {
                const auto m = it.next();
                auto& flags = used[m.captured(1)];
                auto fi = flag.globalMatch(m.captured(2));
                while (fi.hasNext()) flags.insert(fi.next().captured(1));
            }
        }
        for (const char* expected : {"score", "gen-model", "bench-gpu", "eval", "plan", "export", "devices"})
            QVERIFY2(used.count(expected), expected);
        for (const auto& [cmd, flags] : used) {
            const Run r = run_mixq({cmd, "--help"});
            QVERIFY2(r.code == 0, qPrintable(cmd + ": " + r.err));
            const QString usage = r.out + r.err;
            QVERIFY2(usage.contains("mixq " + cmd), qPrintable(cmd + ": " + usage));
            for (const QString& fl : flags)
                QVERIFY2(QRegularExpression("[\\[ (|]" + QRegularExpression::escape(fl) + "[\\] =|)]").match(usage).hasMatch(),
                         qPrintable("mixq " + cmd + " has no " + fl + ":\n" + usage));
        }
    }
};

QTEST_GUILESS_MAIN(TestCliGpuCheckScript)
#include "test_cli_gpu_check_script.moc"
