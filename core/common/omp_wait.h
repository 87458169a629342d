// SPDX-License-Identifier: MIT
// OpenMP's wait policy and thread count for MixQ's processes. libgomp's default lets idle workers spin at every barrier; on a
// machine whose cores are shared (another process, a VM with oversubscribed vCPUs) the spinning threads take the
// time the working one needs, and a fast score of the demo model measured 11.7 s instead of 1.4 s. libgomp reads
// OMP_WAIT_POLICY once, when it loads, so the programs set it to passive (unless the user chose one) and re-execute
// themselves before doing anything else.
#pragma once

namespace mixq {

/// When OMP_WAIT_POLICY is unset: sets it to passive and re-executes /proc/self/exe with `argv` (continues only when
/// that fails, which leaves the default policy). Then, when OMP_NUM_THREADS is unset, uses the cores that are free
/// now (hardware threads minus the 1-minute load average, at least 1): with one busy process on 2 cores, 2 threads
/// made the demo's fast score 32x slower than 1. Call first thing in main.
void use_passive_omp_wait(char** argv);

/// Hardware threads minus the rounded 1-minute load average (/proc/loadavg), at least 1.
int free_cores();

/// The wait policy in effect for this process ("passive", "active", or "default" when unset).
const char* omp_wait_policy();

}  // namespace mixq
