#!/usr/bin/env bash
# ONNX Runtime speed of MixQ exports (benchmark, not a test): a generated ~100M Llama, exported all-int4-g32,
# all-int4-g128, all-int8-g128, a mixed plan (scored, planned at 6 bits) and all-16-bit, each with MatMulNBits
# accuracy_level 4 (MixQ's default, ORT GenAI's builder setting for CPU) and 0, timed in npm onnxruntime-node 1.30
# (tests/ort/ort_bench.js: prefill of a 128-token prompt, then 32 greedy decode steps on the growing past) at 1 and 2
# threads, all in one run. Prints a markdown table for docs/PERFORMANCE.md.
#
#   scripts/bench-ort-export.sh [BUILD_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/app/mixq"
W="${2:-/tmp/mixq-bench-ort}"
ORT=tests/ort
[ -f "$ORT/node_modules/onnxruntime-node/package.json" ] ||
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix "$ORT" --no-audit --no-fund >/dev/null
mkdir -p "$W"
[ -f "$W/model/config.json" ] || "$B" gen-model "$W/model" --preset 100m >/dev/null
if [ ! -f "$W/plan-mixed.json" ]; then
  "$B" score "$W/model" --out "$W/scores.json" --mode fast --samples 2 --seq-len 32 --quiet
  "$B" plan "$W/model" --scores "$W/scores.json" --target-bits 6 --out "$W/plan-mixed.json" >/dev/null
fi
export_one() {  # name level
  local out="$W/$1-l$2"
  [ -f "$out/model.onnx" ] && return
  if [ "$1" = mixed ]; then
    "$B" export "$W/model" --plan "$W/plan-mixed.json" --out "$out" --accuracy-level "$2" --quiet >/dev/null
  else
    "$B" bench-export "$W/model" --format "$1" --out "$out" --accuracy-level "$2" --quiet >/dev/null
  fi
}
field() { node -e "const j=JSON.parse(require('fs').readFileSync(0,'utf8'));process.stdout.write(String(j['$1']))"; }
echo "| export | MiB | threads | prefill tok/s, level 4 | level 0 | ratio | decode tok/s, level 4 | level 0 | ratio | decode vs 16-bit |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A DEC16
for t in 1 2; do
  for f in 16bit int4-g32 int4-g128 int8-g128 mixed; do
    for l in 4 0; do export_one "$f" "$l"; done
    r4=$(OMP_NUM_THREADS=$t node "$ORT/ort_bench.js" "$W/$f-l4/model.onnx" --threads "$t" --prompt 128 --gen 32 --runs 3)
    r0=$(OMP_NUM_THREADS=$t node "$ORT/ort_bench.js" "$W/$f-l0/model.onnx" --threads "$t" --prompt 128 --gen 32 --runs 3)
    p4=$(echo "$r4" | field prefill_tokens_per_s); p0=$(echo "$r0" | field prefill_tokens_per_s)
    d4=$(echo "$r4" | field decode_tokens_per_s); d0=$(echo "$r0" | field decode_tokens_per_s)
    [ "$f" = 16bit ] && DEC16[$t]=$d4
    mib=$(du -sm "$W/$f-l4" | cut -f1)
    awk -v f="$f" -v m="$mib" -v t="$t" -v p4="$p4" -v p0="$p0" -v d4="$d4" -v d0="$d0" -v d16="${DEC16[$t]}" \
      'BEGIN{printf "| %s | %d | %d | %.0f | %.0f | %.2fx | %.1f | %.1f | %.2fx | %.2fx |\n", f, m, t, p4, p0, p4/p0, d4, d0, d4/d0, d4/d16}'
  done
done
