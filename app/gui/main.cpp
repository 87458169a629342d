// SPDX-License-Identifier: MIT
// mixq-studio: starts the Qt desktop app (all of it lives in ui/); installs the CUDA scorer and evaluator when built with them.
#include "core/common/omp_wait.h"
#include "ui/studio_app.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/cuda_language_model.h"
#include "gpu/cuda_scorer.h"
#endif

int main(int argc, char** argv) {
    mixq::use_passive_omp_wait(argv);  // before anything else: it may re-execute the program
#ifdef MIXQ_WITH_CUDA
    mixq::gpu::install_cuda_scorer();
    mixq::gpu::install_cuda_evaluator();
#endif
    return mixq::ui::run_studio(argc, argv);
}
