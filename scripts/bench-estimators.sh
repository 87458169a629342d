#!/usr/bin/env bash
# How well does each fast sensitivity estimator stand in for exact scoring? (benchmark, not a test) Runs
# `mixq bench-estimators` (exact scores against the residual shortcut, the Fisher estimate and exact mode on fewer
# sequences: Spearman, predicted/measured KLD of the chosen plans, plan KLD gap, seconds) on: the demo model (trained
# llama, tied, GQA, BF16), the same weights untied and in F32, generated models of each architecture (llama tied
# GQA BF16, qwen3 untied MQA F32, qwen2 packed qkv/gate_up with biases, mistral), and, when STORIES260K points at
# llama2.c's stories260K.bin (karpathy/tinyllamas; a real TinyStories checkpoint), that model converted to Hugging
# Face layout (q/k rows permuted from interleaved to rotate_half RoPE) and scored on text sampled from itself.
# Prints the markdown rows for docs/PERFORMANCE.md. Run with OMP_NUM_THREADS=1 on a shared machine.
#
#   [STORIES260K=stories260K.bin] scripts/bench-estimators.sh [BUILD_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/app/mixq"
W="${2:-/tmp/mixq-bench-estimators}"
HELD=tests/data/golden/tiny-llama-kjv/heldout.txt
mkdir -p "$W"
python3 - resources/demo-model "$W" <<'PY'
import json, os, shutil, struct, sys
src, out = sys.argv[1], sys.argv[2]
raw = open(f"{src}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]; hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
meta = hdr.pop("__metadata__", None)
for name, untie, f32 in [("demo-untied", True, False), ("demo-f32", False, True)]:
    dst = f"{out}/{name}"
    if os.path.exists(f"{dst}/model.safetensors"): continue
    os.makedirs(dst, exist_ok=True)
    for f in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
        if os.path.exists(f"{src}/{f}"): shutil.copy(f"{src}/{f}", dst)
    cfg = json.load(open(f"{src}/config.json"))
    names = list(hdr.keys()); table = dict(hdr)
    if untie:
        cfg["tie_word_embeddings"] = False
        table["lm_head.weight"] = table["model.embed_tokens.weight"]; names.append("lm_head.weight")
    if f32: cfg["torch_dtype"] = "float32"
    o = {}; buf = bytearray()
    for k in names:
        e = table[k]; lo, hi = e["data_offsets"]; b = data[lo:hi]; dt = e["dtype"]
        if f32 and dt == "BF16":  # exact widening: the BF16 bits become the high half of an F32
            b = b"".join(b"\x00\x00" + b[i:i + 2] for i in range(0, len(b), 2)); dt = "F32"
        o[k] = {"dtype": dt, "shape": e["shape"], "data_offsets": [len(buf), len(buf) + len(b)]}; buf += b
    if meta: o["__metadata__"] = meta
    h = json.dumps(o).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    open(f"{dst}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(buf))
    json.dump(cfg, open(f"{dst}/config.json", "w"), indent=2)
PY
if [ -n "${STORIES260K:-}" ] && [ ! -f "$W/stories260K/model.safetensors" ]; then
  mkdir -p "$W/stories260K"
  cp resources/demo-model/tokenizer.json resources/demo-model/tokenizer_config.json "$W/stories260K/"  # unused (--sampled)
  python3 - "$STORIES260K" "$W/stories260K" <<'PY'
import array, json, struct, sys
raw = open(sys.argv[1], "rb").read(); dst = sys.argv[2]
dim, hid, L, nh, nkv, V, seq = struct.unpack("7i", raw[:28]); shared = V > 0; V = abs(V)
f = array.array("f"); f.frombytes(raw[28:]); pos = 0
def take(n):
    global pos
    a = f[pos:pos + n]; pos += n; return a
hd = dim // nh; kvd = hd * nkv
emb = take(V * dim); ra = take(L * dim); wq = take(L * dim * dim); wk = take(L * kvd * dim); wv = take(L * kvd * dim)
wo = take(L * dim * dim); rf = take(L * dim); w1 = take(L * hid * dim); w2 = take(L * dim * hid); w3 = take(L * hid * dim)
rms = take(dim); take(seq * hd)  # the RoPE tables
wcls = take(V * dim) if not shared else None
def permute(w, heads, rows, cols):  # interleaved RoPE pairs -> rotate_half halves
    o = array.array("f", bytes(4 * rows * cols)); per = rows // heads
    for h in range(heads):
        for i in range(per // 2):
            for half in range(2):
                s = h * per + 2 * i + half; d = h * per + half * (per // 2) + i
                o[d * cols:(d + 1) * cols] = w[s * cols:(s + 1) * cols]
    return o
t = [("model.embed_tokens.weight", [V, dim], emb)]
for l in range(L):
    p = f"model.layers.{l}."; s = lambda a, n: a[l * n:(l + 1) * n]
    t += [(p + "input_layernorm.weight", [dim], s(ra, dim)),
          (p + "self_attn.q_proj.weight", [dim, dim], permute(s(wq, dim * dim), nh, dim, dim)),
          (p + "self_attn.k_proj.weight", [kvd, dim], permute(s(wk, kvd * dim), nkv, kvd, dim)),
          (p + "self_attn.v_proj.weight", [kvd, dim], s(wv, kvd * dim)),
          (p + "self_attn.o_proj.weight", [dim, dim], s(wo, dim * dim)),
          (p + "post_attention_layernorm.weight", [dim], s(rf, dim)),
          (p + "mlp.gate_proj.weight", [hid, dim], s(w1, hid * dim)),
          (p + "mlp.down_proj.weight", [dim, hid], s(w2, dim * hid)),
          (p + "mlp.up_proj.weight", [hid, dim], s(w3, hid * dim))]
t.append(("model.norm.weight", [dim], rms))
if wcls is not None: t.append(("lm_head.weight", [V, dim], wcls))
hdr = {}; buf = bytearray()
for name, shape, a in t:
    b = a.tobytes(); hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(buf), len(buf) + len(b)]}; buf += b
h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open(f"{dst}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(buf))
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim, "intermediate_size": hid,
           "num_hidden_layers": L, "num_attention_heads": nh, "num_key_value_heads": nkv, "head_dim": hd,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": V, "max_position_embeddings": seq,
           "tie_word_embeddings": shared, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"},
          open(f"{dst}/config.json", "w"), indent=2)
PY
fi
gen() { [ -f "$W/$1/config.json" ] || "$B" gen-model "$W/$1" --hidden 128 --intermediate 352 --layers 6 "${@:2}" >/dev/null; }
gen gen-llama --heads 4 --kv-heads 2
gen gen-qwen3 --model-type qwen3 --heads 4 --kv-heads 1 --untied --dtype F32
gen gen-qwen2 --model-type qwen2 --heads 4 --kv-heads 2 --packed-qkv --fused-gate-up
gen gen-mistral --model-type mistral --heads 8 --kv-heads 2 --untied
run() { "$B" bench-estimators "$@" | tail -n +3; }
echo "| model | estimator | Spearman min within cand. | Spearman all | pred/meas 5/6/7 | plan KLD gap 5/6/7 | s | × exact | × fwd+bwd |"
echo "|---|---|---|---|---|---|---|---|---|"
run resources/demo-model --heldout "$HELD" --label "demo (llama, tied, GQA 4/2, BF16, 6 layers)"
run "$W/demo-untied" --heldout "$HELD" --label "demo untied (BF16)"
run "$W/demo-f32" --heldout "$HELD" --label "demo F32 (tied)"
[ -f "$W/stories260K/model.safetensors" ] &&
  run "$W/stories260K" --sampled --label "stories260K (llama2.c, tied, GQA 8/4, F32, 5 layers; sampled text)"
run "$W/gen-llama" --heldout "$HELD" --label "generated llama (tied, GQA, BF16)"
run "$W/gen-qwen3" --heldout "$HELD" --label "generated qwen3 (untied, MQA, q/k norm, F32)"
run "$W/gen-qwen2" --heldout "$HELD" --label "generated qwen2 (packed qkv/gate_up, biases, BF16)"
run "$W/gen-mistral" --heldout "$HELD" --label "generated mistral (untied, GQA 8/2, BF16)"
