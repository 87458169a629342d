// SPDX-License-Identifier: MIT
// mixq-studio: starts the Qt desktop app (all of it lives in ui/); installs the CUDA scorer when built with it.
#include "ui/studio_app.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/cuda_scorer.h"
#endif

int main(int argc, char** argv) {
#ifdef MIXQ_WITH_CUDA
    mixq::gpu::install_cuda_scorer();
#endif
    return mixq::ui::run_studio(argc, argv);
}
