// SPDX-License-Identifier: MIT
// mixq: the command-line twin of MixQ Studio. Dispatches to the registered subcommands; exit 0 on success,
// 1 with a one-line "mixq: error: ..." on failure, 2 on usage errors, 130 when cancelled (SIGINT).
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/cli/cli_command.h"
#include "app/cli/cli_signals.h"
#include "core/backend/cpu/cpu_backend.h"
#include "core/common/omp_wait.h"
#include "core/common/error.h"
#include "core/io/data_dir.h"
#include "core/io/model.h"
#include "core/score/calibration.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/cuda_backend.h"
#endif

namespace {
void print_usage() {
    std::cout << "mixq " << MIXQ_VERSION << " - mixed-precision quantization of LLMs\n\nUsage:\n";
    for (const auto& [name, cmd] : mixq::cli::command_table()) std::cout << "  " << cmd.usage << "\n";
    std::cout << "\nRun 'mixq COMMAND --help' for one command. Global: --help, --version, --paths (where the demo\n"
                 "model and the built-in calibration text are found; MIXQ_DATA_DIR, MIXQ_DEMO_MODEL and\n"
                 "MIXQ_CALIBRATION_TEXT override them).\n";
}
}  // namespace

int main(int argc, char** argv) {
    mixq::use_passive_omp_wait(argv);  // before anything else: it may re-execute the program
    mixq::backend::register_cpu_backend();
#ifdef MIXQ_WITH_CUDA
    mixq::gpu::register_cuda_backend();  // `--device auto|cuda` scoring and evaluation on the GPU when one can be used
#endif
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage();
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--paths") {
        std::cout << "data: " << mixq::io::data_dir().string() << "\n"
                  << "demo model: " << mixq::io::demo_model_path().string() << "\n"
                  << "calibration text: " << mixq::score::builtin_calibration_path().string() << "\n";
        return 0;
    }
    if (args[0] == "--version") {
        std::cout << "mixq " << MIXQ_VERSION << "\n";
        return 0;
    }
    auto& table = mixq::cli::command_table();
    auto it = table.find(args[0]);
    if (it == table.end()) {
        std::cerr << "mixq: error: unknown command '" << args[0] << "' (run 'mixq --help')\n";
        return 2;
    }
    const auto& cmd = it->second;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& a : rest)
        if (a == "--help" || a == "-h") {
            std::cout << "usage: " << cmd.usage << "\n" << cmd.summary << "\n";
            return 0;
        }
    mixq::cli::install_sigint_handler();
    try {
        mixq::cli::Args parsed(rest, cmd.switches);
        return cmd.run(parsed);
    } catch (const mixq::Cancelled&) {
        mixq::cli::end_progress_line();
        std::cerr << "mixq: cancelled\n";
        return 130;
    } catch (const mixq::cli::UsageError& e) {
        mixq::cli::end_progress_line();
        std::cerr << "mixq: error: " << e.what() << " (run 'mixq " << cmd.name << " --help')\n";
        return 2;
    } catch (const mixq::Error& e) {
        mixq::cli::end_progress_line();
        std::cerr << "mixq: error: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "mixq: error: out of memory (try --memory low_memory or offload)\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "mixq: error: " << e.what() << "\n";
        return 1;
    }
}
