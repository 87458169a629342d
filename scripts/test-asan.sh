#!/usr/bin/env bash
# Sanitizer test run: configures the "asan" preset of CMakePresets.json (ASan + UBSan, RelWithDebInfo, CUDA off) in
# build-asan, builds it and runs ctest there with the preset's ASAN_OPTIONS/UBSAN_OPTIONS (halt on the first
# error). Not part of scripts/test.sh or .ci/run. Extra arguments go to ctest and select tests, e.g. a label
# subset: -L core, or -R 'core_test_(eval_tasks|onnx_.*)'; with a selection only the selected test executables
# (and what they depend on, e.g. mixq for cli tests) are built. Prints the build and test times at the end.
# Usage: [JOBS=N] scripts/test-asan.sh [ctest selection args...]   (JOBS: build and ctest parallelism, default nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
t0=$(date +%s)
cmake --preset asan >/dev/null
if [ $# -gt 0 ]; then
  mapfile -t targets < <(ctest --preset asan -N "$@" 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p')
  [ ${#targets[@]} -gt 0 ] || { echo "test-asan: no test matches: $*" >&2; exit 2; }
  cmake --build --preset asan -j"$JOBS" --target "${targets[@]}"
else
  cmake --build --preset asan -j"$JOBS"
fi
t1=$(date +%s)
set +e
ctest --preset asan -j"$JOBS" "$@"
rc=$?
set -e
t2=$(date +%s)
echo "test-asan: configure+build $((t1 - t0)) s, ctest $((t2 - t1)) s (JOBS=$JOBS), ctest exit $rc"
exit $rc
