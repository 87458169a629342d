#!/usr/bin/env bash
# Renders one screenshot per view of MixQ Studio on the built-in demo model at 1024x700 into docs/screenshots
# (mixq-studio --screenshot --view V --size 1024x700, offscreen, with fresh settings, score cache and results store).
# Usage: scripts/screenshots.sh [BUILD_DIR] [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
SIZE="${2:-1024x700}"
STUDIO="$BUILD_DIR/app/mixq-studio"
[ -x "$STUDIO" ] || { echo "screenshots: $STUDIO not built" >&2; exit 1; }
OUT=docs/screenshots
mkdir -p "$OUT"
STATE="$(mktemp -d)"
trap 'rm -rf "$STATE"' EXIT
for view in main model results log settings export; do
    HOME="$STATE" XDG_CONFIG_HOME="$STATE/config" XDG_CACHE_HOME="$STATE/cache" XDG_DATA_HOME="$STATE/data" \
        QT_QPA_PLATFORM=offscreen "$STUDIO" --screenshot "$OUT/$view.png" --view "$view" --size "$SIZE"
done
ls -l "$OUT"
