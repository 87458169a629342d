#!/usr/bin/env bash
# Installs (with apt-get) every Debian package MixQ Studio needs to build, test and run, skipping what is
# already installed. Needs root (or sudo). Safe to run repeatedly.
set -euo pipefail
PKGS=(build-essential cmake pkg-config git
      qt6-base-dev qt6-svg-dev libqt6svg6 libqcustomplot-dev libgl1-mesa-dev
      libonnx-dev libprotobuf-dev protobuf-compiler
      libeigen3-dev nlohmann-json3-dev libpcre2-dev libicu-dev
      xvfb xauth
      help2man lintian)  # man pages from the CLI's help; the package test (scripts/test-package.sh) runs lintian
# Node.js/npm (for the ONNX Runtime cross-check tests) only when the machine has none of its own.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
