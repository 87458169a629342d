// SPDX-License-Identifier: MIT
// Linked into every test executable: registers the CPU compute backend before main, as mixq and mixq-studio do at
// start-up, so scoring and evaluation can select it. Tests that want the CUDA backend register it themselves.
#include "core/backend/cpu/cpu_backend.h"

namespace {
const bool g_registered = [] {
    mixq::backend::register_cpu_backend();
    return true;
}();
}  // namespace
