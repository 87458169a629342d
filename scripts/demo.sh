#!/usr/bin/env bash
# Installs missing Debian packages, builds, and starts MixQ Studio on the built-in demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
BUILD_DIR="${MIXQ_BUILD_DIR:-build}"
exec "$BUILD_DIR/app/mixq-studio" resources/demo-model "$@"
