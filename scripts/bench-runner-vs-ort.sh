#!/usr/bin/env bash
# The built-in ONNX runner against ONNX Runtime on the same exports (benchmark, not a test): `mixq eval EXPORT
# --speed --no-baseline` times the runner, then ORT (npm onnxruntime-node, tests/ort/ort_bench.js) on the same file
# in the same invocation; each export is run REPS times at 1 and 2 threads, alternating exports, and the best
# figure of each side is kept (the runner's per invocation is a median of 3 runs, ORT's a best of 3). Prints a
# markdown table for docs/PERFORMANCE.md, with decode as a fraction of the DRAM-bandwidth bound.
#
#   scripts/bench-runner-vs-ort.sh [BUILD_DIR] [WORK_DIR] [REPS]
#
# WORK_DIR holds (or gets, from `mixq gen-model --preset 100m` + `mixq bench-export`) int4-g32-l4, int4-g128-l4 and
# int8-g128-l4 exports at accuracy_level 4, as scripts/bench-ort-export.sh writes them.
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/app/mixq"
W="${2:-/tmp/mixq-bench-ort}"
REPS="${3:-2}"
mkdir -p "$W"
[ -f "$W/model/config.json" ] || [ -f "$W/int4-g32-l4/model.onnx" ] || "$B" gen-model "$W/model" --preset 100m >/dev/null
EXPORTS="int4-g32 int4-g128 int8-g128"
for f in $EXPORTS; do
  [ -f "$W/$f-l4/model.onnx" ] || "$B" bench-export "$W/model" --format "$f" --out "$W/$f-l4" --accuracy-level 4 --quiet >/dev/null
done
pick() {  # json-file expression over sp, the report's speed task
  node -e "const s=JSON.parse(require('fs').readFileSync('$1','utf8'));const sp=s.tasks.speed.target;process.stdout.write(String($2))"
}
declare -A RD RP OD OP BOUND
for rep in $(seq "$REPS"); do
  for t in 1 2; do
    for f in $EXPORTS; do
      out="$W/eval-$f-$t.json"
      OMP_NUM_THREADS=$t "$B" eval "$W/$f-l4" --speed --no-baseline --runs 3 --json --quiet >"$out"
      k="$f/$t"
      rd=$(pick "$out" "sp.builtin_runner.decode_tokens_per_s"); rp=$(pick "$out" "sp.builtin_runner.prefill_tokens_per_s")
      od=$(pick "$out" "sp.decode_tokens_per_s"); op=$(pick "$out" "sp.prefill_tokens_per_s")
      BOUND[$k]=$(pick "$out" "sp.decode_bound_tokens_per_s")
      RD[$k]=$(awk -v a="${RD[$k]:-0}" -v b="$rd" 'BEGIN{print (b>a?b:a)}')
      RP[$k]=$(awk -v a="${RP[$k]:-0}" -v b="$rp" 'BEGIN{print (b>a?b:a)}')
      OD[$k]=$(awk -v a="${OD[$k]:-0}" -v b="$od" 'BEGIN{print (b>a?b:a)}')
      OP[$k]=$(awk -v a="${OP[$k]:-0}" -v b="$op" 'BEGIN{print (b>a?b:a)}')
    done
  done
done
echo "| export | threads | decode tok/s, runner | ORT | runner/ORT | runner, fraction of bandwidth bound | prefill tok/s, runner | ORT | runner/ORT |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in 1 2; do
  for f in $EXPORTS; do
    k="$f/$t"
    awk -v f="$f" -v t="$t" -v rd="${RD[$k]}" -v od="${OD[$k]}" -v rp="${RP[$k]}" -v op="${OP[$k]}" -v b="${BOUND[$k]}" \
      'BEGIN{printf "| %s | %d | %.1f | %.1f | %.2fx | %.0f%% | %.0f | %.0f | %.2fx |\n", f, t, rd, od, rd/od, 100*rd/b, rp, op, rp/op}'
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
