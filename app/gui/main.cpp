// SPDX-License-Identifier: MIT
// mixq-studio: starts the Qt desktop app (all of it lives in ui/); registers the compute backends (the CPU, and CUDA
// when built with it).
#include "core/backend/cpu/cpu_backend.h"
#include "core/common/omp_wait.h"
#include "ui/studio_app.h"
#ifdef MIXQ_WITH_CUDA
#include "gpu/cuda_backend.h"
#endif

int main(int argc, char** argv) {
    mixq::use_passive_omp_wait(argv);  // before anything else: it may re-execute the program
    mixq::backend::register_cpu_backend();
#ifdef MIXQ_WITH_CUDA
    mixq::gpu::register_cuda_backend();  // scoring and evaluation on the GPU when one can be used
#endif
    return mixq::ui::run_studio(argc, argv);
}
