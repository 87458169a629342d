#!/usr/bin/env bash
# The GPU runs that remain for issue 20 (docs/GPU-RUNS.md), in one go on a machine with an NVIDIA GPU: build for
# the card, ctest -L gpu, CPU vs CUDA scores through the one scoring driver, multi_gpu vs full, exact/fast scoring
# of an 8B-shaped model (seconds, peak device memory, FLOP fraction), bench-gpu int4/int8/BF16 decode vs copy
# bandwidth on a 1B model, and `mixq eval EXPORT --device cuda` vs the CPU runner. Figures go to RESULTS (Markdown).
# Usage: scripts/gpu-check.sh [--results FILE] [--build-dir DIR] [--no-build] [--only STEP,...] [--work DIR]
#   STEPs: build, tests, driver, multigpu, score8b, bench1b, eval (default: all, in this order)
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS="gpu-check-results.md"
BUILD="build-gpu"
DO_BUILD=1
ONLY="build,tests,driver,multigpu,score8b,bench1b,eval"
WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --results) RESULTS="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
[ "$DO_BUILD" = 1 ] || ONLY="${ONLY//build/}"
if [ -z "$WORK" ]; then WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
mkdir -p "$WORK"
B="$BUILD/app/mixq"
out() { echo "$*" | tee -a "$RESULTS"; }
command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found (no NVIDIA driver)" >&2; exit 1; }
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')

# Peak device memory (MiB) while a command runs: nvidia-smi sampled every 100 ms.
peak_mem() {  # peak_mem LOGFILE CMD...; prints nothing, writes the peak to LOGFILE.peak
  local log="$1"; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$log" &
  local smi=$!
  local rc=0
  "$@" || rc=$?
  kill "$smi" 2>/dev/null || true
  wait "$smi" 2>/dev/null || true
  sort -n "$log" | tail -1 > "$log.peak"
  return $rc
}

: > "$RESULTS"
out "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ): $GPU_NAME (sm_$CC), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
out ""

if want build; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMIXQ_CUDA=ON -DMIXQ_BUILD_GUI=OFF -DMIXQ_CUDA_ARCHS="$CC" >/dev/null
  t0=$(date +%s)
  cmake --build "$BUILD" -j"$(nproc)" >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
  out "- build for sm_$CC: $(( $(date +%s) - t0 )) s"
fi
[ -x "$B" ] || { echo "gpu-check: $B missing (build first)" >&2; exit 1; }
out "- devices: $("$B" devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(x.get("name","?")+" "+str(round(x.get("total_bytes",0)/2**30,1))+" GiB" for x in d["devices"]))')"

if want tests; then
  out ""
  out "## ctest -L gpu"
  rc=0
  (cd "$BUILD" && ctest -L gpu --output-on-failure) >"$WORK/ctest.log" 2>&1 || rc=$?
  out "\`\`\`"
  { grep -E "Test +#|tests passed|tests failed|The following tests FAILED|^ +[0-9]+ - " "$WORK/ctest.log" || true; } | tee -a "$RESULTS"
  out "\`\`\`"
  [ $rc = 0 ] || out "**ctest -L gpu failed (rc $rc); log: $WORK/ctest.log**"
fi

# Largest relative difference of the KLDs and relative errors of two score files, and Spearman's rho of the KLDs.
compare_scores() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ka, kb, worst, worst_err = [], [], 0.0, 0.0
for ua, ub in zip(a["units"], b["units"]):
    assert ua["name"] == ub["name"]
    for f, sa in ua["scores"].items():
        sb = ub["scores"][f]
        ka.append(sa["kld"]); kb.append(sb["kld"])
        worst = max(worst, abs(sa["kld"] - sb["kld"]) / max(abs(sa["kld"]), 1e-30))
        worst_err = max(worst_err, abs(sa["rel_err"] - sb["rel_err"]) / max(abs(sa["rel_err"]), 1e-30))
def ranks(v):
    o = sorted(range(len(v)), key=lambda i: v[i]); r = [0] * len(v)
    for k, i in enumerate(o): r[i] = k
    return r
ra, rb, n = ranks(ka), ranks(kb), len(ka)
rho = 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))
print("%d scores: max rel diff KLD %.3g, rel_err %.3g; Spearman %.6f" % (n, worst, worst_err, rho))
PY
}

if want driver; then
  out ""
  out "## CPU vs CUDA through the one scoring driver (demo model, 32 x 128)"
  for mode in exact fast; do
    "$B" score resources/demo-model --device cpu --mode $mode --fast-estimator shortcut --memory full \
      --out "$WORK/cpu-$mode.json" --quiet
    for mem in full low_memory offload; do
      "$B" score resources/demo-model --device cuda --mode $mode --fast-estimator shortcut --memory $mem \
        --out "$WORK/cuda-$mode-$mem.json" --quiet
      out "- $mode, CUDA $mem vs CPU: $(compare_scores "$WORK/cpu-$mode.json" "$WORK/cuda-$mode-$mem.json")"
    done
  done
fi

if want multigpu; then
  out ""
  out "## multi_gpu vs full (demo model; target: every score within 1e-6)"
  T="$BUILD/tests/gpu_test_cuda_scorer"
  if [ -x "$T" ]; then  # three parts on one device: every boundary copy and per-part buffer
    rc=0
    "$T" multiGpuPartsMatchFull >"$WORK/multigpu.log" 2>&1 || rc=$?
    out "- multiGpuPartsMatchFull (splits {2,3,1}, {0,6,0}, {3,0,3} on one device): $([ $rc = 0 ] && echo PASS || echo "FAIL (rc $rc)")"
    { grep -E "^(PASS|FAIL|QDEBUG|QINFO|QWARN)" "$WORK/multigpu.log" || true; } | head -20 | tee -a "$RESULTS"
  fi
  if [ "$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)" -ge 2 ]; then
    for mode in exact fast; do
      "$B" score resources/demo-model --device cuda --mode $mode --fast-estimator shortcut --memory full \
        --out "$WORK/mg-full-$mode.json" --quiet
      "$B" score resources/demo-model --device cuda --mode $mode --fast-estimator shortcut --memory multi_gpu \
        --out "$WORK/mg-multi-$mode.json" --quiet
      out "- $mode, one part per device: $(compare_scores "$WORK/mg-full-$mode.json" "$WORK/mg-multi-$mode.json")"
    done
  else
    out "- one GPU: \`mixq score --memory multi_gpu\` needs two devices; the one-device split above is the check"
  fi
fi

# FLOPs of a scoring run, estimated from the shapes: 2 x tokens x weights for every decoder-layer run, plus the
# lm_head at every comparison (attention's T^2 terms, norms and the quantizers left out).
flops() {  # flops CONFIG.json SCORES.json
  python3 - "$1" "$2" <<'PY'
import json, sys
c, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
nh = c["num_attention_heads"]; kv = c.get("num_key_value_heads", nh); hd = c.get("head_dim", H // nh)
layer = H * (nh * hd) + 2 * H * (kv * hd) + (nh * hd) * H + 3 * H * I
tied = c.get("tie_word_embeddings", False)
exact = s["mode"] == "exact"
nseq = s["calibration"]["samples"] if exact else min(8, s["calibration"]["samples"])
T = nseq * s["calibration"]["seq_len"]
C = len(s["candidates"])
runs = 2 * L                                                       # reference pass + every layer's taps
runs += sum(4 * C * (L - l if exact else 1) for l in range(L))     # each variant from its layer on (fast: its layer)
runs += C * L if exact else 0                                      # the embedding's variants through every layer
compares = 4 * C * L + C * (1 if tied else 2)                      # one lm_head product per variant
total = 2.0 * T * (runs * layer + compares * H * V)
print("%.4g" % total)
PY
}
fp32_peak_tflops() {
  case "$GPU_NAME" in
    *H200*|*H100*SXM*|*"H100 80GB HBM3"*) echo 67 ;;
    *H100*) echo 51 ;;
    *A100*) echo 19.5 ;;
    *) echo 0 ;;
  esac
}

if want score8b; then
  out ""
  out "## Scoring an 8B-shaped model (Llama-3-8B shapes, BF16 random weights; fp32 on the device)"
  M8="$WORK/m8b"
  [ -f "$M8/config.json" ] || "$B" gen-model "$M8" --preset 8b >/dev/null
  out "| mode | calibration | memory | seconds | peak device MiB | est. TFLOP | TFLOP/s | fraction of fp32 peak | peak host RSS MiB |"
  out "|---|---|---|---|---|---|---|---|---|"
  peak=$(fp32_peak_tflops)
  for spec in "exact 8 128" "fast 32 128"; do
    set -- $spec
    peak_mem "$WORK/smi-$1.log" "$B" score "$M8" --device cuda --mode "$1" --fast-estimator shortcut --memory full \
      --samples "$2" --seq-len "$3" --out "$WORK/s8b-$1.json" --json --quiet > "$WORK/s8b-$1.out"
    sec=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["seconds"])' "$WORK/s8b-$1.out")
    rss=$(python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["peak_rss_mb"])' "$WORK/s8b-$1.out")
    f=$(flops "$M8/config.json" "$WORK/s8b-$1.json")
    line=$(python3 -c 'import sys; f,s,p=map(float,sys.argv[1:4]); r=f/s/1e12; print("%.1f | %.1f | %s" % (f/1e12, r, ("%.2f" % (r/p)) if p>0 else "?"))' "$f" "$sec" "$peak")
    out "| $1 | $2 x $3 | full | $sec | $(cat "$WORK/smi-$1.log.peak") | $line | $rss |"
  done
fi

if want bench1b; then
  out ""
  out "## bench-gpu, generated 1B (int4 / int8 / BF16 decode vs copy bandwidth)"
  M1="$WORK/m1b"
  [ -f "$M1/config.json" ] || "$B" gen-model "$M1" --preset 1b >/dev/null
  "$B" bench-gpu "$M1" --runs 3 --formats bf16,int8-g128,int4-g128 --json > "$WORK/bench1b.json"
  python3 - "$WORK/bench1b.json" <<'PY' | tee -a "$RESULTS"
import json, sys
d = json.load(open(sys.argv[1]))
print("copy bandwidth %.0f GB/s, cuBLAS BF16 %.1f TFLOP/s\n" % (d["d2d_copy_bandwidth_gb_s"], d["gemm_bf16_tflops"]))
print("| weights | MB/token | decode tok/s | bound tok/s | fraction of bound | prefill tok/s | gate_up GEMV fraction of copy bw |")
print("|---|---|---|---|---|---|---|")
for r in d["results"]:
    print("| %s | %.0f | %.0f | %.0f | %.2f | %.0f | %.2f |" % (r["format"], r["weight_bytes_per_token"] / 1e6,
          r["decode_tokens_per_s"], r["decode_bound_tokens_per_s"], r["decode_fraction_of_bound"],
          r["prefill_tokens_per_s"], r["gate_up_gemv_fraction_of_copy_bw"]))
PY
fi

if want eval; then
  out ""
  out "## mixq eval EXPORT --device cuda vs the CPU runner (demo model, 5-bit plan)"
  "$B" score resources/demo-model --device cuda --mode exact --out "$WORK/ev-scores.json" --quiet
  "$B" plan resources/demo-model --scores "$WORK/ev-scores.json" --target-bits 5 --out "$WORK/ev-plan.json" >/dev/null
  rm -rf "$WORK/ev-export"
  "$B" export resources/demo-model --plan "$WORK/ev-plan.json" --out "$WORK/ev-export" >/dev/null
  for dev in cuda cpu; do
    t0=$(date +%s.%N)
    "$B" eval "$WORK/ev-export" --device $dev --mmlu builtin --piqa builtin --ppl builtin --limit 200 --speed --out "$WORK/ev-$dev.json" --json > /dev/null
    echo "$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$(date +%s.%N)")" > "$WORK/ev-$dev.secs"
  done
  python3 - "$WORK/ev-cuda.json" "$WORK/ev-cpu.json" "$(cat "$WORK/ev-cuda.secs")" "$(cat "$WORK/ev-cpu.secs")" <<'PY' | tee -a "$RESULTS"
import json, sys
def flat(d, p=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items(): out.update(flat(v, p + "." + k if p else k))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[p] = d
    return out
a, b = (flat(json.load(open(p))) for p in sys.argv[1:3])
print("wall: cuda %s s, cpu %s s\n" % (sys.argv[3], sys.argv[4]))
print("| figure | --device cuda | --device cpu |")
print("|---|---|---|")
for k in sorted(set(a) | set(b)):
    if any(w in k for w in ("accuracy", "ppl", "perplexity", "kld", "tokens_per_s", "stderr")):
        print("| %s | %s | %s |" % (k, a.get(k, "-"), b.get(k, "-")))
PY
fi

out ""
out "results: $RESULTS"
