#!/usr/bin/env bash
# Batched loglikelihood (`mixq eval --batch N`): MMLU and PIQA questions per second of int4-g32 exports (built-in
# ONNX runner, export defaults), batched vs one question at a time, runs interleaved in one session so the shared
# machine's load hits both alike. Models: `mixq gen-model --preset 100m` and two other sizes for the throughput vs
# parameter-count fit behind the full-MMLU extrapolation in docs/PERFORMANCE.md ("Batched loglikelihood").
# PHASES=engine runs the CPU engine instead (model folders: the demo model and the 100M one, BF16 in place).
# Usage: scripts/bench-eval-batch.sh [build dir] [work dir] [MMLU questions] [PIQA items]
# Prints one TSV line per run: model, matmul weights (multiply-adds per token), threads, batch[:tokens], task, n,
# wall seconds, questions/s, CPU seconds (all threads; on a shared machine the load-independent figure, at 1 thread),
# questions per CPU second, tokens fed (real positions), padding positions, forwards. PHASES picks the groups of runs.
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
PHASES="${PHASES:-default threads sizes}"
DEMO="$(cd "$(dirname "$0")/.." && pwd)/resources/demo-model"
[ -f "$W/m100/config.json" ] || "$B" gen-model "$W/m100" --preset 100m >/dev/null
if [ "$PHASES" != engine ]; then
  gen m22 --preset 100m --hidden 384 --intermediate 1024 --layers 6 --heads 6 --kv-heads 2
  gen m100 --preset 100m
  gen m213 --preset 100m --hidden 1024 --intermediate 2816 --layers 16 --heads 16 --kv-heads 4
fi
params() { python3 -c "import json,sys;c=json.load(open('$1/config.json'));h=c['hidden_size'];i=c['intermediate_size'];L=c['num_hidden_layers'];a=c['num_attention_heads'];k=c['num_key_value_heads'];v=c['vocab_size'];d=h//a;print(L*(h*a*d*2+2*h*k*d+3*h*i)+v*h)"; }
run() {  # model threads batch[:tokens] task [target: default the model's int4 export]
  local target="${5:-$W/$1-int4}" src="${5:-$W/$1}"
  local flags=(--mmlu builtin --mmlu-limit "$NM") batch="${3%%:*}" tokens=()
  [ "$4" = piqa ] && flags=(--piqa builtin --piqa-limit "$NP")
  [[ "$3" == *:* ]] && tokens=(--batch-tokens "${3##*:}")
  OMP_NUM_THREADS=$2 "$B" eval "$target" "${flags[@]}" --no-baseline --batch "$batch" "${tokens[@]}" --json --quiet > "$W/r.json"
  python3 - "$W/r.json" "$1" "$(params "$src")" "$2" "$3" "$4" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["tasks"][sys.argv[6]]["target"]; l = r["loglik"]["target"]
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], str(t["n"]), "%.2f" % t["seconds"],
                 "%.3f" % (t["n"] / t["seconds"]), "%.2f" % t["cpu_seconds"], "%.3f" % (t["n"] / t["cpu_seconds"]),
                 str(l["tokens_fed"]), str(l["padding_tokens"]), str(l["forwards"])]), flush=True)
PY
}
echo -e "model\tparams\tthreads\tbatch[:tokens]\ttask\tn\tseconds\tq_per_s\tcpu_s\tq_per_cpu_s\ttokens_fed\tpadding\tforwards"
for phase in $PHASES; do
  case $phase in
    default)  # the --batch / --batch-tokens default: 1 thread, two interleaved rounds
      for rep in 1 2; do for task in mmlu piqa; do for c in 1 8:128 8:256 8:512 16:2048; do run m100 1 "$c" "$task"; done; done; done ;;
    threads)  # 1 and 2 threads, batched (defaults) vs one question at a time
      for threads in 2 1; do for task in mmlu piqa; do for c in 1 8; do run m100 "$threads" "$c" "$task"; done; done; done ;;
    engine)  # the CPU engine on model folders (ragged batches), 1 thread, two interleaved rounds
      for rep in 1 2; do for task in mmlu piqa; do for c in 1 8 8:2048; do
        run demo 1 "$c" "$task" "$DEMO"; run m100 1 "$c" "$task" "$W/m100"; done; done; done ;;
    sizes)  # throughput vs parameter count, MMLU, 1 thread
      for m in m22 m213; do for c in 1 8; do run "$m" 1 "$c" mmlu; done; done ;;
  esac
done
