#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for SECONDS (default 60) from the
# seed corpus in tests/fuzz/corpus/<name> (the corpus in the tree is not modified: each run works on a copy);
# prints a Markdown table per target: executions, exec/s, coverage (cov: edges, ft: features) and crashes.
# Crash/leak/timeout inputs are kept in build-fuzz/artifacts/<target>/, logs in build-fuzz/<target>.log.
# Usage: [JOBS=N] scripts/fuzz-smoke.sh [SECONDS] [TARGET...]   (default: every tests/fuzz/fuzz_*.cpp;
#        JOBS: build parallelism, default nproc). Exit status 1 when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
shift || true
JOBS="${JOBS:-$(nproc)}"
scripts/install-deps.sh >/dev/null
# clang and its libFuzzer runtime (Debian: clang + libclang-rt-dev) are needed only here, not by the main build.
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-dev >/dev/null
fi
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=($(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')); fi
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DMIXQ_FUZZ=ON -DMIXQ_BUILD_GUI=OFF -DMIXQ_BUILD_TESTS=OFF -DMIXQ_CUDA=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS" --target "${TARGETS[@]}" >/dev/null
echo "| target | seconds | executions | exec/s | cov | ft | corpus units | crashes |"
echo "|---|---|---|---|---|---|---|---|"
status=0
for name in "${TARGETS[@]}"; do
  corpus_name=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$corpus_name/." "$work/" 2>/dev/null || true
  art="build-fuzz/artifacts/$name"
  rm -rf "$art" && mkdir -p "$art"
  log="build-fuzz/$name.log"
  set +e
  "build-fuzz/tests/fuzz/$name" -max_total_time="$SECS" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$art/" "$work" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || true)
  [ -z "$execs" ] && execs=$(grep -oE "^#[0-9]+" "$log" | tail -1 | tr -d '#')
  eps=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
  ft=$(grep -oE "ft: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
  units=$(find "$work" -type f | wc -l)
  crashes=$(find "$art" -type f | wc -l)
  [ "$crashes" -gt 0 ] && status=1
  echo "| $name | $SECS | ${execs:-?} | $eps | $cov | $ft | $units | $crashes (exit $rc) |"
  rm -rf "$work"
done
exit $status
