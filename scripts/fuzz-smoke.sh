#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for SECONDS (default 60) from the
# seed corpus in tests/fuzz/corpus/<name>; prints executions, coverage and any crash file per target.
# Usage: scripts/fuzz-smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
scripts/install-deps.sh >/dev/null
command -v clang++ >/dev/null || { apt-get install -y -qq clang libclang-rt-dev >/dev/null; }
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DMIXQ_FUZZ=ON -DMIXQ_BUILD_GUI=OFF -DMIXQ_BUILD_TESTS=OFF -DMIXQ_CUDA=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target $(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//' | tr '\n' ' ') >/dev/null
echo "| target | seconds | executions | coverage (edges) | crashes |"
echo "|---|---|---|---|---|"
for src in tests/fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  corpus_name=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$corpus_name/." "$work/" 2>/dev/null || true
  log="build-fuzz/$name.log"
  set +e
  (cd build-fuzz && "./tests/fuzz/$name" -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$name-" "$work" >"$name.log" 2>&1)
  rc=$?
  set -e
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || true)
  [ -z "$execs" ] && execs=$(grep -oE "#[0-9]+" "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
  crashes=$(find build-fuzz -maxdepth 1 -name "$name-*" | wc -l)
  echo "| $name | $SECS | ${execs:-?} | $cov | $crashes (exit $rc) |"
  rm -rf "$work"
done
