// SPDX-License-Identifier: MIT
// GroupQueryAttention (com.microsoft) as ORT's CPU kernel computes it: packed or separate Q/K/V [B, S, ·], BNSH
// past/present KV (present = past's first seqlens_k+1−S positions, then the new keys), optional rotary from
// cos/sin caches (half-split or interleaved), causal mask, optional local window (local_window_size keys, the
// current one included), softcap and smooth softmax;
// query head h reads KV head h / (num_heads / kv_num_heads). The attention itself is attend_rows (attention_block.h)
// over blocks of query rows; a past KV buffer handed over by the caller is appended to in place.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/engine/finite_check.h"
#include "core/eval/onnx/attention_block.h"
#include "core/eval/onnx/onnx_ops.h"

namespace mixq::eval::onnx {
namespace {

void rotate(float* x, const float* cos_row, const float* sin_row, int64_t half, bool interleaved) {
    for (int64_t i = 0; i < half; ++i) {
        const int64_t i1 = interleaved ? 2 * i : i;
        const int64_t i2 = interleaved ? 2 * i + 1 : i + half;
        const float x1 = x[i1], x2 = x[i2], c = cos_row[i], s = sin_row[i];
        x[i1] = x1 * c - x2 * s;
        x[i2] = x2 * c + x1 * s;
    }
}

void gqa_op(OpContext& ctx) {
    static const char* kSlotNames[] = {"query", "key", "value", "past_key", "past_value", "seqlens_k",
                                       "total_sequence_length", "cos_cache", "sin_cache", "position_ids",
                                       "attention_bias", "head_sink", "k_scale", "v_scale", "q_norm_weight",
                                       "k_norm_weight"};
    for (int i = 9; i < ctx.num_inputs(); ++i)
        if (const Tensor* t = ctx.opt(i); t && t->numel() > 0)
            ctx.fail(std::string("input ") + (i < 16 ? kSlotNames[i] : "?") + " (slot " + std::to_string(i) + ") is not supported");
    const Tensor& q = ctx.in_typed(0, DType::Float, "query");
    const Tensor* key = ctx.opt(1);
    const Tensor* value = ctx.opt(2);
    const Tensor* past_k = ctx.opt(3);
    const Tensor* past_v = ctx.opt(4);
    const auto seqlens = ctx.in(5).to_i64();
    const auto total_v = ctx.in(6).to_i64();
    const Tensor* cos = ctx.opt(7);
    const Tensor* sin = ctx.opt(8);
    const Node& nd = ctx.node;
    const int64_t Nh = nd.attr_int("num_heads", 0), Nkv = nd.attr_int("kv_num_heads", 0);
    if (Nh <= 0 || Nkv <= 0 || Nh % Nkv != 0) ctx.fail("num_heads must be a positive multiple of kv_num_heads");
    if (q.rank() != 3) ctx.fail("query must be [batch, sequence, hidden], got " + q.describe());
    const int64_t B = q.dim(0), S = q.dim(1), X = q.dim(2);
    const bool packed = key == nullptr;
    if (packed != (value == nullptr)) ctx.fail("key and value must both be given or both omitted (packed QKV)");
    int64_t D;
    if (packed) {
        if (X % (Nh + 2 * Nkv) != 0) ctx.fail("packed query width " + std::to_string(X) + " is not (num_heads + 2*kv_num_heads)*head_size");
        D = X / (Nh + 2 * Nkv);
    } else {
        if (X % Nh != 0) ctx.fail("query width " + std::to_string(X) + " is not a multiple of num_heads");
        D = X / Nh;
        const Shape kvs{B, S, Nkv * D};
        if (key->dtype() != DType::Float || key->shape() != kvs || value->dtype() != DType::Float || value->shape() != kvs)
            ctx.fail("key/value must be float " + shape_str(kvs) + ", got " + key->describe() + " / " + value->describe());
    }
    if (static_cast<int64_t>(seqlens.size()) != B) ctx.fail("seqlens_k must hold one value per batch row");
    if (total_v.size() != 1) ctx.fail("total_sequence_length must be a scalar");
    const int64_t T = total_v[0];
    int64_t P = 0;
    if ((past_k == nullptr) != (past_v == nullptr)) ctx.fail("past_key and past_value must both be given or omitted");
    if (past_k) {
        if (past_k->rank() != 4) ctx.fail("past_key must be [batch, kv_heads, past, head_size], got " + past_k->describe());
        P = past_k->dim(2);
        const Shape ps{B, Nkv, P, D};
        if (past_k->dtype() != DType::Float || past_k->shape() != ps || past_v->dtype() != DType::Float || past_v->shape() != ps)
            ctx.fail("past_key/past_value must be float " + shape_str(ps) + ", got " + past_k->describe() + " / " + past_v->describe());
    }
    const bool do_rotary = nd.attr_int("do_rotary", 0) != 0;
    const bool interleaved = nd.attr_int("rotary_interleaved", 0) != 0;
    int64_t half = 0;
    if (do_rotary) {
        if (!cos || !sin) ctx.fail("do_rotary=1 needs cos_cache and sin_cache");
        if (cos->rank() != 2 || cos->shape() != sin->shape() || cos->dtype() != DType::Float)
            ctx.fail("cos_cache/sin_cache must be float [max_seq, rotary_dim/2], got " + cos->describe() + " / " + sin->describe());
        half = cos->dim(1);
        if (2 * half > D) ctx.fail("rotary dim " + std::to_string(2 * half) + " exceeds head size " + std::to_string(D));
    }
    float scale = nd.attr_float("scale", 0.0f);
    if (scale == 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(D));
    const float softcap = nd.attr_float("softcap", 0.0f);
    const int64_t window = nd.attr_int("local_window_size", -1);
    const bool smooth = nd.attr_int("smooth_softmax", 0) != 0;

    const bool first_prompt = S == T;
    const int64_t L = std::max(T, P);  // present length (ORT: max(total_sequence_length, past length))
    std::vector<int64_t> past_len(static_cast<size_t>(B)), valid(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
        valid[b] = seqlens[b] + 1;
        past_len[b] = first_prompt ? 0 : valid[b] - S;
        if (valid[b] < 1 || valid[b] > L || past_len[b] < 0 || past_len[b] > P || past_len[b] + S > L)
            ctx.fail("seqlens_k[" + std::to_string(b) + "]=" + std::to_string(seqlens[b]) + " is inconsistent with S=" +
                     std::to_string(S) + ", past=" + std::to_string(P) + ", total_sequence_length=" + std::to_string(T));
        if (do_rotary && past_len[b] + S > cos->dim(0))
            ctx.fail("position " + std::to_string(past_len[b] + S - 1) + " is beyond the cos/sin cache (" +
                     std::to_string(cos->dim(0)) + " rows)");
    }

    const int64_t qw = packed ? X : Nh * D;  // row stride of the query source
    const int64_t kvw = packed ? X : Nkv * D;
    const float* qsrc = q.data<float>();
    const float* ksrc = packed ? q.data<float>() + Nh * D : key->data<float>();
    const float* vsrc = packed ? q.data<float>() + (Nh + Nkv) * D : value->data<float>();
    const int64_t group = Nh / Nkv;

    // Rotated queries [B, Nkv, S, group, D]: the query heads that share a KV head, all positions, are one block of
    // rows for attend_rows.
    std::vector<float> qr(static_cast<size_t>(B * S * Nh * D));
    // Present K/V [B, Nkv, L, D]. A past buffer the caller handed over (OnnxSession feeds its KV cache at full
    // capacity, as ORT GenAI's shared past/present buffer) that already has present's shape becomes present: the new
    // keys are written at their positions and nothing is copied; positions past each row's length keep what the past
    // held there, as with ORT's shared buffer. Otherwise a new buffer: the past's positions copied, the new ones
    // written, only the rest (shorter sequences of a batch) zeroed.
    const bool in_place = past_k && L == P && ctx.donated(3) && ctx.donated(4) && past_k->bytes() != past_v->bytes();
    Tensor pk = in_place ? *past_k : Tensor::alloc_uninit(DType::Float, {B, Nkv, L, D});
    Tensor pv = in_place ? *past_v : Tensor::alloc_uninit(DType::Float, {B, Nkv, L, D});
    float* K = pk.mutable_data<float>();
    float* V = pv.mutable_data<float>();
    if (!in_place)
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < Nkv; ++h) {
                const int64_t used = past_len[b] + S;
                std::fill(K + ((b * Nkv + h) * L + used) * D, K + ((b * Nkv + h) * L + L) * D, 0.0f);
                std::fill(V + ((b * Nkv + h) * L + used) * D, V + ((b * Nkv + h) * L + L) * D, 0.0f);
                const size_t n = static_cast<size_t>(past_len[b] * D) * sizeof(float);
                if (n == 0) continue;
                std::memcpy(K + (b * Nkv + h) * L * D, past_k->data<float>() + (b * Nkv + h) * P * D, n);
                std::memcpy(V + (b * Nkv + h) * L * D, past_v->data<float>() + (b * Nkv + h) * P * D, n);
            }
    bool new_finite = true;  // the keys and values written here (the past's were checked when they were written)
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t s = 0; s < S; ++s) {
            const int64_t pos = past_len[b] + s;
            const float* crow = do_rotary ? cos->data<float>() + pos * half : nullptr;
            const float* srow = do_rotary ? sin->data<float>() + pos * half : nullptr;
            for (int64_t h = 0; h < Nh; ++h) {
                float* dst = qr.data() + (((b * Nkv + h / group) * S + s) * group + h % group) * D;
                std::memcpy(dst, qsrc + (b * S + s) * qw + h * D, static_cast<size_t>(D) * sizeof(float));
                if (do_rotary) rotate(dst, crow, srow, half, interleaved);
            }
            for (int64_t h = 0; h < Nkv; ++h) {
                float* kd = K + ((b * Nkv + h) * L + pos) * D;
                float* vd = V + ((b * Nkv + h) * L + pos) * D;
                std::memcpy(kd, ksrc + (b * S + s) * kvw + h * D, static_cast<size_t>(D) * sizeof(float));
                std::memcpy(vd, vsrc + (b * S + s) * kvw + h * D, static_cast<size_t>(D) * sizeof(float));
                if (do_rotary) rotate(kd, crow, srow, half, interleaved);
                new_finite = new_finite && engine::all_finite(kd, D) && engine::all_finite(vd, D);
            }
        }
    }

    Tensor out = Tensor::alloc_uninit(DType::Float, {B, S, Nh * D});
    float* o = out.mutable_data<float>();
    // Blocks of query positions (all heads of a KV head each): about 64 rows, so the scores of a block stay in L2.
    const int64_t qb = std::max<int64_t>(1, 64 / group);
    const int64_t blocks = (S + qb - 1) / qb;
    const int64_t items = B * Nkv * blocks;
    int64_t used = 0;
    for (int64_t b = 0; b < B; ++b) used = std::max(used, past_len[b] + S);
    const AttentionParams ap{D, scale, softcap, smooth};
    // Threads only for real work: a parallel region's wake-up and barrier cost far more than a decode step's
    // attention, and a scheduler time slice when the machine is busy.
#pragma omp parallel if (B * S * Nh * used * D >= (int64_t(1) << 22))
    {
        AttentionScratch scratch;
        std::vector<int64_t> st, en;
        std::vector<float> ob;
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; ++it) {
            const int64_t blk = it % blocks, g = (it / blocks) % Nkv, b = it / (blocks * Nkv);
            const int64_t s0 = blk * qb, s1 = std::min(S, s0 + qb), rows = (s1 - s0) * group;
            st.resize(static_cast<size_t>(rows));
            en.resize(static_cast<size_t>(rows));
            for (int64_t s = s0; s < s1; ++s) {
                const int64_t qpos = past_len[b] + s;
                const int64_t end = first_prompt ? std::min(s + 1, valid[b]) : qpos + 1;
                // The window holds local_window_size keys, the current one included (HF sliding window; what ORT
                // 1.30's CPU kernel computes, checked against it).
                const int64_t start = window > 0 ? std::max<int64_t>(0, qpos - window + 1) : 0;
                for (int64_t i = 0; i < group; ++i) {
                    st[static_cast<size_t>((s - s0) * group + i)] = start;
                    en[static_cast<size_t>((s - s0) * group + i)] = end;
                }
            }
            ob.resize(static_cast<size_t>(rows * D));
            const float* qblk = qr.data() + ((b * Nkv + g) * S + s0) * group * D;
            attend_rows(qblk, rows, st.data(), en.data(), K + (b * Nkv + g) * L * D, V + (b * Nkv + g) * L * D, ap,
                        scratch, ob.data());
            for (int64_t s = s0; s < s1; ++s)
                std::memcpy(o + (b * S + s) * Nh * D + g * group * D, ob.data() + (s - s0) * group * D,
                            static_cast<size_t>(group * D) * sizeof(float));
        }
    }
    ctx.set(0, std::move(out));
    ctx.set(1, std::move(pk));
    ctx.set(2, std::move(pv));
    if (new_finite) ctx.finite_checked |= 6u;  // present K/V: only their new rows are new values
}

}  // namespace

void register_attention_ops(OpTable& t) { t[op_key("com.microsoft", "GroupQueryAttention")] = gqa_op; }

}  // namespace mixq::eval::onnx
