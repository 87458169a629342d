#!/usr/bin/env bash
# Does Hadamard rotation lower the measured KLD of MixQ's plans? (benchmark, not a test) For the demo model made
# untied (the same trained weights with lm_head.weight = a copy of the embedding; rotation needs untied embeddings,
# so the tied demo model itself is refused) and a generated untied model: exact scores without and with
# --rotation hadamard, plans at 4.5, 5 and 6 average bits from each, and the measured mean KL(unquantized || plan)
# over 256 tokens of held-out text (the second half of resources/calibration/builtin.txt, not the calibration
# samples). Prints a markdown table for docs/PERFORMANCE.md.
#
#   scripts/bench-rotation-kld.sh [BUILD_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/app/mixq"
W="${2:-/tmp/mixq-bench-rotation}"
mkdir -p "$W"
if [ ! -f "$W/demo-untied/model.safetensors" ]; then
  mkdir -p "$W/demo-untied"
  cp resources/demo-model/tokenizer.json resources/demo-model/tokenizer_config.json "$W/demo-untied/"
  python3 - resources/demo-model "$W/demo-untied" <<'PY'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{src}/config.json")); cfg["tie_word_embeddings"] = False
json.dump(cfg, open(f"{dst}/config.json", "w"), indent=2)
raw = open(f"{src}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
meta = hdr.pop("__metadata__", None)
e = hdr["model.embed_tokens.weight"]; lo, hi = e["data_offsets"]
hdr["lm_head.weight"] = {"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [len(data), len(data) + hi - lo]}
data += data[lo:hi]
if meta: hdr["__metadata__"] = meta
h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open(f"{dst}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
fi
[ -f "$W/gen/config.json" ] || "$B" gen-model "$W/gen" --preset tiny --untied >/dev/null
TEXT=resources/calibration/builtin.txt
HALF=$(( $(wc -c < "$TEXT") / 2 ))
tail -c "$HALF" "$TEXT" | head -c 4000 > "$W/heldout.txt"
kl() {  # mean KL(p || q) over rows of two fp32 [T, V] files
  node -e '
    const fs = require("fs"); const p = new Float32Array(fs.readFileSync(process.argv[1]).buffer.slice(0));
    const q = new Float32Array(fs.readFileSync(process.argv[2]).buffer.slice(0)); const V = +process.argv[3];
    let tot = 0; const T = p.length / V;
    for (let t = 0; t < T; ++t) {
      const a = p.subarray(t * V, t * V + V), b = q.subarray(t * V, t * V + V);
      const ma = Math.max(...a), mb = Math.max(...b); let za = 0, zb = 0;
      for (let j = 0; j < V; ++j) { za += Math.exp(a[j] - ma); zb += Math.exp(b[j] - mb); }
      let k = 0;
      for (let j = 0; j < V; ++j) { const la = a[j] - ma - Math.log(za), lb = b[j] - mb - Math.log(zb); k += Math.exp(la) * (la - lb); }
      tot += k / T;
    }
    process.stdout.write(tot.toExponential(3));' "$1" "$2" "$3"
}
echo "| model | target bits | rotation | achieved bits | predicted KLD | measured KLD |"
echo "|---|---|---|---|---|---|"
for m in demo-untied gen; do
  M="$W/$m"
  V=$(node -e "process.stdout.write(String(require('$M/config.json').vocab_size))")
  IDS=$("$B" tokenize "$M" --text "$(cat "$W/heldout.txt")" --json | node -e "
    const j = JSON.parse(require('fs').readFileSync(0, 'utf8')); process.stdout.write(j.ids.slice(0, 256).join(','))")
  "$B" logits "$M" --ids "$IDS" --out "$W/$m-base.f32" >/dev/null
  for rot in none hadamard; do
    S="$W/$m-scores-$rot.json"
    [ -f "$S" ] || "$B" score "$M" --out "$S" --samples 16 --seq-len 64 --mode exact --rotation "$rot" --quiet
    for bits in 4.5 5 6; do
      P="$W/$m-plan-$rot-$bits.json"
      if ! err=$("$B" plan "$M" --scores "$S" --target-bits "$bits" --out "$P" 2>&1 >/dev/null); then
        echo "| $m | $bits | $rot | unreachable: ${err##*average, } | | |"
        continue
      fi
      "$B" logits "$M" --ids "$IDS" --plan "$P" --out "$W/$m-q.f32" >/dev/null
      read -r ach pred < <(node -e "const j=require('$P');process.stdout.write(j.average_bits.toFixed(3)+' '+j.predicted_kld.toExponential(3)+'\\n')")
      echo "| $m | $bits | $rot | $ach | $pred | $(kl "$W/$m-base.f32" "$W/$m-q.f32" "$V") |"
    done
  done
done
