// SPDX-License-Identifier: MIT
// SIGINT -> the process-wide CancelToken that CLI commands pass into core jobs.
#pragma once
#include "core/common/job.h"

namespace mixq::cli {
void install_sigint_handler();
const mixq::CancelToken& sigint_token();
/// A JobContext whose progress prints to stderr (unless quiet) and whose token is set by SIGINT.
mixq::JobContext make_cli_job(bool quiet);
}  // namespace mixq::cli
