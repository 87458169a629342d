#!/usr/bin/env bash
# Scoring benchmark: time of `mixq score` on the demo model and on generated models, per memory mode and mode,
# and how exact/fast scoring time grows with the layer count (least-squares fit of log time vs log layers).
# Usage: scripts/bench-scoring.sh [BUILD_DIR] [cpu|cuda]   (prints Markdown tables; models go to a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/app/mixq"
DEVICE="${2:-cpu}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
secs() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f %.0f" % (d["seconds"], d["peak_rss_mb"]))'; }
echo "| model | mode | memory | samples x seq | seconds | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for mode in exact fast; do
  for mem in full low_memory offload; do
    r=$("$B" score --device "$DEVICE" resources/demo-model --out "$T/s.json" --samples 32 --seq-len 128 --mode $mode --memory $mem --json --quiet | secs)
    echo "| demo (1.2M) | $mode | $mem | 32 x 128 | ${r% *} | ${r#* } |"
  done
done
"$B" gen-model "$T/m100" --preset 100m >/dev/null
for mode in exact fast; do
  for mem in full low_memory offload; do
    r=$("$B" score --device "$DEVICE" "$T/m100" --out "$T/s.json" --samples 4 --seq-len 64 --mode $mode --memory $mem --json --quiet | secs)
    echo "| synthetic 100M | $mode | $mem | 4 x 64 | ${r% *} | ${r#* } |"
  done
done
echo
echo "| layers | exact s | fast s |"
echo "|---|---|---|"
fit_in=""
for L in 2 4 8 16; do
  "$B" gen-model "$T/l$L" --hidden 256 --intermediate 704 --heads 8 --kv-heads 4 --layers $L --vocab 4096 >/dev/null
  e=$("$B" score --device "$DEVICE" "$T/l$L" --out "$T/s.json" --samples 8 --seq-len 64 --mode exact --memory full --json --quiet | secs)
  f=$("$B" score --device "$DEVICE" "$T/l$L" --out "$T/s.json" --samples 8 --seq-len 64 --mode fast --memory full --json --quiet | secs)
  echo "| $L | ${e% *} | ${f% *} |"
  fit_in="$fit_in $L ${e% *} ${f% *}"
done
python3 - $fit_in <<'PY'
import math, sys
v = list(map(float, sys.argv[1:])); rows = [v[i:i+3] for i in range(0, len(v), 3)]
def slope(xs, ys):
    mx, my = sum(xs)/len(xs), sum(ys)/len(ys)
    return sum((x-mx)*(y-my) for x, y in zip(xs, ys)) / sum((x-mx)**2 for x in xs)
lx = [math.log(r[0]) for r in rows]
print(f"\nfitted exponent (time ~ layers^k): exact k = {slope(lx, [math.log(r[1]) for r in rows]):.2f}, "
      f"fast k = {slope(lx, [math.log(r[2]) for r in rows]):.2f}")
PY
