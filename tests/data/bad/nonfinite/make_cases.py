#!/usr/bin/env python3
# Writes the nonfinite/ cases: a 1-layer Llama (hidden 32, vocab 1024 so the demo tokenizer fits, tied, BF16,
# seeded weights) with one planted defect each. Re-run from this folder to regenerate: python3 make_cases.py
import json, os, random, struct

H, I, V, HEADS, KV, HD = 32, 64, 1024, 2, 1, 16
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "intermediate_size": I,
          "num_hidden_layers": 1, "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HD,
          "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": V, "max_position_embeddings": 256,
          "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
          "bos_token_id": 1023, "eos_token_id": 1023, "torch_dtype": "bfloat16"}

def bf16(x):
    b = struct.unpack("<I", struct.pack("<f", x))[0]
    return (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # round to nearest even

def tensors():
    rnd = random.Random(22)
    def mat(r, c, s=0.08): return [[rnd.gauss(0, s) for _ in range(c)] for _ in range(r)]
    t = {"model.embed_tokens.weight": mat(V, H, 0.5), "model.norm.weight": [[1.0] * H]}
    p = "model.layers.0."
    t[p + "input_layernorm.weight"] = [[1.0] * H]
    t[p + "post_attention_layernorm.weight"] = [[1.0] * H]
    t[p + "self_attn.q_proj.weight"] = mat(HEADS * HD, H)
    t[p + "self_attn.k_proj.weight"] = mat(KV * HD, H)
    t[p + "self_attn.v_proj.weight"] = mat(KV * HD, H)
    t[p + "self_attn.o_proj.weight"] = mat(H, HEADS * HD)
    t[p + "mlp.gate_proj.weight"] = mat(I, H)
    t[p + "mlp.up_proj.weight"] = mat(I, H)
    t[p + "mlp.down_proj.weight"] = mat(H, I)
    return t

def write(case, patch, raw_patch=None):
    os.makedirs(case, exist_ok=True)
    t = tensors()
    patch(t)
    header, data, off = {}, b"", 0
    for name, rows in t.items():
        vals = [bf16(v) for r in rows for v in r]
        if raw_patch and name in raw_patch: vals = raw_patch[name](vals)
        b = struct.pack("<%dH" % len(vals), *vals)
        shape = [len(rows[0])] if name.endswith("norm.weight") else [len(rows), len(rows[0])]
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + len(b)]}
        data += b
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(os.path.join(case, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    with open(os.path.join(case, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)

def at(i, bits):
    def f(vals):
        vals[i] = bits
        return vals
    return f

write("nan_final_norm", lambda t: None, {"model.norm.weight": at(5, 0x7FC0)})          # NaN
write("inf_embedding", lambda t: None, {"model.embed_tokens.weight": at(3 * H + 7, 0x7F80)})  # +Inf, row 3
# Finite weights whose logits overflow: the final norm scales the hidden state by ~3e38.
write("overflow_logits", lambda t: t.update({"model.norm.weight": [[3.0e38] * H]}))

def scaled(names, factor):
    def f(t):
        for n in names: t[n] = [[v * factor for v in r] for r in t[n]]
    return f
L0 = "model.layers.0."
# Finite weights, infinite attention scores: q and k ~4e19 per value, so q.k overflows and softmax gives NaN.
write("overflow_attention", scaled([L0 + "self_attn.q_proj.weight", L0 + "self_attn.k_proj.weight"], 1e20))
# Finite weights, infinite MLP activations: silu(gate) * up ~ (4e19)^2.
write("overflow_mlp", scaled([L0 + "mlp.gate_proj.weight", L0 + "mlp.up_proj.weight"], 1e20))
# A finite model (runs on the CPU) with norm weights beyond float16's range (65504): a float16 export (--target
# cuda / dml) would store them as Inf.
write("beyond_float16", lambda t: t.update({L0 + "input_layernorm.weight": [[1.0e5] * H]}))
