#!/usr/bin/env bash
# Batched loglikelihood (`mixq eval --batch N`): MMLU and PIQA questions per second of int4-g32 exports (built-in
# ONNX runner, export defaults), batched vs one question at a time, runs interleaved in one session so the shared
# machine's load hits both alike. Models: `mixq gen-model --preset 100m` and two other sizes for the throughput vs
# parameter-count fit behind the full-MMLU extrapolation in docs/PERFORMANCE.md ("Batched loglikelihood").
# Usage: scripts/bench-eval-batch.sh [build dir] [work dir] [MMLU questions] [PIQA items]
# Prints one TSV line per run: model params threads batch task n seconds q/s tokens_fed padding forwards.
set -euo pipefail
B="${1:-build}/app/mixq"
W="${2:-/tmp/mixq-bench-eval-batch}"
NM="${3:-48}"
NP="${4:-48}"
mkdir -p "$W"
gen() {  # name, gen-model flags
  local d="$W/$1"
  [ -f "$d/config.json" ] || "$B" gen-model "$d" "${@:2}" >/dev/null
  [ -f "$d-int4/model.onnx" ] || "$B" bench-export "$d" --format int4-g32 --out "$d-int4" --quiet >/dev/null
}
gen m22 --preset 100m --hidden 384 --intermediate 1024 --layers 6 --heads 6 --kv-heads 2
gen m100 --preset 100m
gen m213 --preset 100m --hidden 1024 --intermediate 2816 --layers 16 --heads 16 --kv-heads 4
params() { python3 -c "import json,sys;c=json.load(open('$W/$1/config.json'));h=c['hidden_size'];i=c['intermediate_size'];L=c['num_hidden_layers'];a=c['num_attention_heads'];k=c['num_key_value_heads'];v=c['vocab_size'];d=h//a;print(L*(h*a*d*2+2*h*k*d+3*h*i)+v*h)"; }
run() {  # model threads batch task
  local flags=(--mmlu builtin --mmlu-limit "$NM")
  [ "$4" = piqa ] && flags=(--piqa builtin --piqa-limit "$NP")
  OMP_NUM_THREADS=$2 "$B" eval "$W/$1-int4" "${flags[@]}" --no-baseline --batch "$3" --json --quiet > "$W/r.json"
  python3 - "$W/r.json" "$1" "$(params "$1")" "$2" "$3" "$4" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["tasks"][sys.argv[6]]["target"]; l = r["loglik"]["target"]
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], str(t["n"]), "%.2f" % t["seconds"],
                 "%.2f" % (t["n"] / t["seconds"]), str(l["tokens_fed"]), str(l["padding_tokens"]), str(l["forwards"])]))
PY
}
echo -e "model\tparams\tthreads\tbatch\ttask\tn\tseconds\tq_per_s\ttokens_fed\tpadding\tforwards"
for rep in 1 2; do
  for threads in 1 2; do
    for task in mmlu piqa; do
      for batch in 1 8; do run m100 "$threads" "$batch" "$task"; done
    done
  done
done
for batch in 4 16; do run m100 1 "$batch" mmlu; run m100 1 "$batch" piqa; done
for m in m22 m213; do
  for batch in 1 8; do run "$m" 1 "$batch" mmlu; done
done
