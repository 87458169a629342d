#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds (Release) and runs the whole ctest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh "$@"
BUILD_DIR="${MIXQ_BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)"
