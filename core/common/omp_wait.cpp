// SPDX-License-Identifier: MIT
// Passive OpenMP waits through a re-exec (see omp_wait.h).
#include "core/common/omp_wait.h"

#include <unistd.h>

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace mixq {

int free_cores() {
    const int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::ifstream in("/proc/loadavg");
    double load = 0.0;
    if (!(in >> load) || !std::isfinite(load) || load < 0) return n;
    return std::max(1, n - static_cast<int>(std::lround(load)));
}

void use_passive_omp_wait(char** argv) {
    if (!std::getenv("OMP_WAIT_POLICY") && ::setenv("OMP_WAIT_POLICY", "passive", 1) == 0) {
        ::execv("/proc/self/exe", argv);
        // exec failed (no /proc): carry on with the policy libgomp already read.
    }
    if (!std::getenv("OMP_NUM_THREADS")) omp_set_num_threads(free_cores());
}

const char* omp_wait_policy() {
    const char* p = std::getenv("OMP_WAIT_POLICY");
    return p && *p ? p : "default";
}

}  // namespace mixq
