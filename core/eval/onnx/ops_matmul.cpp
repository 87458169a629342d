// SPDX-License-Identifier: MIT
// MatMul (float, numpy batching), MatMulNBits (2/4/8-bit blocks along K, with or without packed uint8 or float zero
// points; int8 activation blocks at accuracy_level 4, as ONNX Runtime, through the int8 VNNI kernel for any number
// of rows where the CPU has one; never a full fp32 copy of a weight: otherwise few rows use fused block dot
// products on the codes, many rows dequantize 64 weight rows at a time for a GEMM) and
// GatherBlockQuantized (uint8-packed, uint4 or int4 data; gather_axis 0, blocks along the last axis).
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/engine/act_quant.h"
#include "core/engine/tensor.h"
#include "core/eval/onnx/nbits_int8_kernel.h"
#include "core/eval/onnx/nbits_kernel.h"
#include "core/eval/onnx/onnx_ops.h"
#include "core/eval/onnx/runner_threads.h"

namespace mixq::eval::onnx {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;

/// Up to this many activation rows MatMulNBits uses the fused kernel, above it dequantized tiles and a GEMM.
constexpr int64_t kFusedMaxRows = 8;

void matmul_op(OpContext& ctx) {
    const Tensor& a = ctx.in_typed(0, DType::Float, "A");
    const Tensor& b = ctx.in_typed(1, DType::Float, "B");
    if (a.rank() < 1 || b.rank() < 1) ctx.fail("inputs must have rank >= 1");
    Shape as = a.shape(), bs = b.shape();
    const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
    if (a_vec) as.insert(as.begin(), 1);
    if (b_vec) bs.push_back(1);
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K) ctx.fail("inner dimensions differ: " + a.describe() + " x " + b.describe());
    Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2), batch;
    if (!broadcast_shape(abatch, bbatch, &batch)) ctx.fail("batch dims do not broadcast: " + a.describe() + " x " + b.describe());
    Shape os = batch;
    if (!a_vec) os.push_back(M);
    if (!b_vec) os.push_back(N);
    Tensor out = Tensor::alloc(DType::Float, os);
    float* o = out.mutable_data<float>();
    if (bbatch.empty() || shape_numel(bbatch) == 1) {
        // One weight for all rows: a single GEMM over the flattened leading dims.
        const int64_t rows = a.numel() / K;
        MMap(o, rows, N).noalias() = CMap(a.data<float>(), rows, K) * CMap(b.data<float>(), K, N);
    } else {
        const int64_t nb = shape_numel(batch);
        const size_t r = batch.size();
        for (int64_t i = 0; i < nb; ++i) {
            // Index of batch i in each input (right-aligned broadcast).
            int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
            for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
                const int64_t idx = rem % batch[static_cast<size_t>(d)];
                rem /= batch[static_cast<size_t>(d)];
                const int64_t da = d - static_cast<int64_t>(r - abatch.size());
                const int64_t db = d - static_cast<int64_t>(r - bbatch.size());
                if (da >= 0) {
                    const int64_t dim = abatch[static_cast<size_t>(da)];
                    ia += (dim == 1 ? 0 : idx) * sa;
                    sa *= dim;
                }
                if (db >= 0) {
                    const int64_t dim = bbatch[static_cast<size_t>(db)];
                    ib += (dim == 1 ? 0 : idx) * sb;
                    sb *= dim;
                }
            }
            MMap(o + i * M * N, M, N).noalias() =
                CMap(a.data<float>() + ia * M * K, M, K) * CMap(b.data<float>() + ib * K * N, K, N);
        }
    }
    ctx.set(0, std::move(out));
}

void matmul_nbits_op(OpContext& ctx) {
    const Tensor& a = ctx.in_typed(0, DType::Float, "A");
    const Tensor& b = ctx.in_typed(1, DType::UInt8, "B");
    const Tensor& sc = ctx.in_typed(2, DType::Float, "scales");
    const Node& nd = ctx.node;
    if (!nd.has("K") || !nd.has("N")) ctx.fail("attributes K and N are required");
    const int64_t K = nd.attr_int("K", 0), N = nd.attr_int("N", 0);
    const int bits = static_cast<int>(nd.attr_int("bits", 4));
    const int64_t bs = nd.attr_int("block_size", 0);
    if (bits != 2 && bits != 4 && bits != 8) ctx.fail("bits=" + std::to_string(bits) + " (only 2, 4 and 8 are supported)");
    if (bs < 16 || (bs & (bs - 1)) != 0) ctx.fail("block_size=" + std::to_string(bs) + " must be a power of two >= 16");
    if (K <= 0 || N <= 0) ctx.fail("K and N must be positive");
    const int64_t kb = (K + bs - 1) / bs, blob = bs * bits / 8;
    const Shape want{N, kb, blob};
    if (b.shape() != want)
        ctx.fail("B " + b.describe() + " does not match the attribute-derived shape " + shape_str(want) + " (N=" +
                 std::to_string(N) + ", K=" + std::to_string(K) + ", bits=" + std::to_string(bits) +
                 ", block_size=" + std::to_string(bs) + ")");
    if (sc.numel() != N * kb) ctx.fail("scales " + sc.describe() + " must hold N*k_blocks = " + std::to_string(N * kb) + " values");
    if (a.rank() < 1 || a.dim(-1) != K) ctx.fail("A " + a.describe() + " does not have K=" + std::to_string(K) + " columns");
    NBitsMatrix w;
    w.n = N;
    w.k = K;
    w.k_blocks = kb;
    w.blob = blob;
    w.block_size = bs;
    w.bits = bits;
    w.codes = b.data<uint8_t>();
    w.scales = sc.data<float>();
    w.zp_default = static_cast<float>(1 << (bits - 1));
    w.zp_row_bytes = (kb * bits + 7) / 8;
    if (const Tensor* z = ctx.opt(3)) {
        if (z->dtype() == DType::UInt8) {
            if (z->numel() != N * w.zp_row_bytes)
                ctx.fail("zero_points " + z->describe() + " must hold N*ceil(k_blocks*bits/8) = " + std::to_string(N * w.zp_row_bytes) + " bytes");
            w.zp_packed = z->data<uint8_t>();
        } else if (z->dtype() == DType::Float) {
            if (z->numel() != N * kb) ctx.fail("float zero_points " + z->describe() + " must hold N*k_blocks values");
            w.zp_values = z->data<float>();
        } else {
            ctx.fail("zero_points must be uint8 or float, got " + z->describe());
        }
    }
    if (const Tensor* g = ctx.opt(4); g && g->numel() > 0) ctx.fail("g_idx (act-order) is not supported");
    const Tensor* bias = ctx.opt(5);
    if (bias && (bias->dtype() != DType::Float || bias->numel() != N)) ctx.fail("bias must be float [N]");

    Shape os = a.shape();
    os.back() = N;
    Tensor out = Tensor::alloc_uninit(DType::Float, os);  // every path below writes every element
    const int64_t M = a.numel() / K;
    float* o = out.mutable_data<float>();
    const float* pa = a.data<float>();
    // accuracy_level 4: ONNX Runtime quantizes A to int8 blocks of block_size (MLAS CompInt8). 4- or 8-bit codes
    // with integer zero points take int8 block dots (nbits_int8_kernel.h, else few rows nbits_int8_rows);
    // otherwise the same codes times their scales are multiplied in fp32, which gives its result up to summation
    // order.
    const int64_t level = nd.attr_int("accuracy_level", 0);
    if (level < 0 || level > 4) ctx.fail("accuracy_level=" + std::to_string(level) + " (0..4)");
    const bool int8_act = level == engine::kInt8ActivationAccuracyLevel;
    // Any number of rows takes the int8 kernel (VNNI dots, nbits_int8_kernel.h) where this CPU has one: one row
    // (decode) in 1 x 64-column register tiles, many (prefill) in 6 x 32 tiles (AVX512-VNNI; smaller with 16
    // registers).
    const bool int8_gemm = int8_act && nbits_int8_gemm_supports(w);
    const bool int8_rows = !int8_gemm && int8_act && M <= kFusedMaxRows && (bits == 4 || bits == 8) && !w.zp_values;
    std::vector<float> a_int8;
    if (int8_act && !int8_rows && !int8_gemm) {
        a_int8.assign(pa, pa + M * K);
        engine::fake_quantize_activation_rows(a_int8.data(), M, K, bs);
        pa = a_int8.data();
    }
    // Threads only from ~4M multiply-adds up (a 2048x2048 decode step); below that a parallel region's barrier
    // costs more than it saves, and much more when other processes share the cores.
    const bool parallel = M * N * K >= (1 << 22);
    if (int8_gemm) {
        // Weights prepacked once per node (nbits_prepack.h); the column panels split over the runner's workers
        // (runner_threads.h: they stay awake between a decode step's calls, where OpenMP's passive wait would
        // put them to sleep).
        const auto packed = nbits_prepacked_for(nd, w, b, sc, ctx.opt(3));
        const Int8Activations acts = nbits_int8_prepare(w, pa, M);
        const int64_t step = nbits_int8_panels_per_task(M);
        const int64_t tasks = (packed->panels + step - 1) / step;
        const auto task = [&](int64_t t) {
            nbits_int8_gemm(*packed, acts, o, N, t * step, std::min(packed->panels, (t + 1) * step));
        };
        // From 128K multiply-adds (every projection of a hidden-768 decode step): waking a spinning worker costs
        // about a microsecond, a 768x256 int4 decode product streams ~110 KB (~4 µs at one core's bandwidth).
        if (M * N * K >= (1 << 17)) parallel_for(tasks, task);
        else
            for (int64_t t = 0; t < tasks; ++t) task(t);
    } else if (M <= kFusedMaxRows) {
        // Few rows (decode): block dot products straight from the codes, on int8 activation codes (with their
        // scales and code sums) or on fp32 activations (with their block sums).
        const int64_t kpad = kb * bs;
        std::vector<int8_t> qa;
        std::vector<float> sa, sums;
        std::vector<int32_t> qsum;
        if (int8_rows) {
            qa.resize(static_cast<size_t>(M * kpad));
            sa.resize(static_cast<size_t>(M * kb));
            qsum.resize(static_cast<size_t>(M * kb));
            for (int64_t m = 0; m < M; ++m)
                engine::quantize_activation_row(pa + m * K, K, bs, qa.data() + m * kpad, sa.data() + m * kb,
                                                qsum.data() + m * kb);
        } else {
            sums.assign(static_cast<size_t>(M * kb), 0.0f);
            for (int64_t m = 0; m < M; ++m)
                for (int64_t k = 0; k < K; ++k) sums[static_cast<size_t>(m * kb + k / bs)] += pa[m * K + k];
        }
        constexpr int64_t kRows = 16;
        const int64_t chunks = (N + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t r0 = c * kRows, r1 = std::min(N, (c + 1) * kRows);
            if (int8_rows)
                nbits_int8_rows(w, qa.data(), sa.data(), qsum.data(), M, o, N, r0, r1);
            else
                nbits_fused_rows(w, pa, sums.data(), M, o, N, r0, r1);
        }
    } else {
        // Many rows (prefill): dequantize 64 weight rows at a time into a small buffer, then a GEMM.
        constexpr int64_t kTile = 64;
        const int64_t tiles = (N + kTile - 1) / kTile;
#pragma omp parallel if (parallel && tiles > 1)
        {
            std::vector<float> wt(static_cast<size_t>(kTile * K));
#pragma omp for schedule(static)
            for (int64_t t = 0; t < tiles; ++t) {
                const int64_t n0 = t * kTile, nt = std::min(kTile, N - n0);
                for (int64_t r = 0; r < nt; ++r) nbits_dequant_row(w, n0 + r, wt.data() + r * K);
                MMap(o, M, N).middleCols(n0, nt).noalias() = CMap(pa, M, K) * CMap(wt.data(), nt, K).transpose();
            }
        }
    }
    if (bias)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) o[m * N + n] += bias->data<float>()[n];
    ctx.set(0, std::move(out));
}

/// Code of logical element e of a 4-bit flat-packed tensor (ONNX uint4/int4 layout).
inline int nibble(const uint8_t* p, int64_t e, bool is_signed) {
    const int v = (p[e >> 1] >> ((e & 1) * 4)) & 15;
    return is_signed && v >= 8 ? v - 16 : v;
}

void gather_block_quantized_op(OpContext& ctx) {
    const Tensor& data = ctx.in(0);
    const Tensor& idx_t = ctx.in(1);
    const Tensor& sc = ctx.in_typed(2, DType::Float, "scales");
    const Tensor* zpt = ctx.opt(3);
    const Node& nd = ctx.node;
    if (idx_t.dtype() != DType::Int64 && idx_t.dtype() != DType::Int32) ctx.fail("indices must be int64 or int32");
    if (data.rank() != 2) ctx.fail("only 2-D data is supported, got " + data.describe());
    if (norm_axis(ctx, nd.attr_int("gather_axis", 0), 2) != 0) ctx.fail("only gather_axis=0 is supported");
    if (norm_axis(ctx, nd.attr_int("quantize_axis", 1), 2) != 1) ctx.fail("only quantize_axis=1 (the last axis) is supported");
    const int64_t bs = nd.attr_int("block_size", 128);
    if (bs < 16 || (bs & (bs - 1)) != 0) ctx.fail("block_size=" + std::to_string(bs) + " must be a power of two >= 16");
    const int64_t V = data.dim(0);
    int bits = 4;
    int64_t K = data.dim(1);
    const bool packed4 = data.dtype() == DType::UInt4 || data.dtype() == DType::Int4;
    const bool is_signed = data.dtype() == DType::Int4;
    float dflt_zp = 0.0f;
    if (data.dtype() == DType::UInt8) {
        bits = static_cast<int>(nd.attr_int("bits", 4));
        if (bits != 2 && bits != 4 && bits != 8) ctx.fail("bits=" + std::to_string(bits) + " (only 2, 4 and 8)");
        K = data.dim(1) * (8 / bits);
        dflt_zp = static_cast<float>(1 << (bits - 1));
    } else if (!packed4) {
        ctx.fail("data must be uint8, uint4 or int4, got " + data.describe());
    }
    const int64_t kb = (K + bs - 1) / bs;
    if (sc.rank() != 2 || sc.dim(0) != V || sc.dim(1) != kb)
        ctx.fail("scales " + sc.describe() + " must be [" + std::to_string(V) + "," + std::to_string(kb) + "]");
    const int64_t zp_row = (kb * bits + 7) / 8;
    if (zpt) {
        if (packed4 ? zpt->dtype() != data.dtype() : zpt->dtype() != DType::UInt8)
            ctx.fail("zero_points " + zpt->describe() + " must have the data's element type");
        if (packed4 ? zpt->numel() != V * kb : zpt->numel() != V * zp_row)
            ctx.fail("zero_points " + zpt->describe() + " do not match data " + data.describe());
    }
    const auto idx = idx_t.to_i64();
    Shape os = idx_t.shape();
    os.push_back(K);
    Tensor out = Tensor::alloc(DType::Float, os);
    float* o = out.mutable_data<float>();
    const uint8_t* pd = data.bytes();
    const float* ps = sc.data<float>();
    for (size_t i = 0; i < idx.size(); ++i) {
        int64_t v = idx[i];
        if (v < 0) v += V;
        if (v < 0 || v >= V) ctx.fail("index " + std::to_string(idx[i]) + " out of range [0, " + std::to_string(V) + ")");
        float* row = o + static_cast<int64_t>(i) * K;
        for (int64_t k = 0; k < K; ++k) {
            const int64_t blk = k / bs;
            float z = dflt_zp;
            int code;
            if (packed4) {
                code = nibble(pd, v * K + k, is_signed);
                if (zpt) z = static_cast<float>(nibble(zpt->bytes(), v * kb + blk, is_signed));
            } else {
                const int per = 8 / bits;
                code = (pd[v * data.dim(1) + k / per] >> ((k % per) * bits)) & ((1 << bits) - 1);
                if (zpt)
                    z = static_cast<float>((zpt->bytes()[v * zp_row + blk / per] >> ((blk % per) * bits)) & ((1 << bits) - 1));
            }
            row[k] = (static_cast<float>(code) - z) * ps[v * kb + blk];
        }
    }
    ctx.set(0, std::move(out));
}

}  // namespace

void register_matmul_ops(OpTable& t) {
    t[op_key("", "MatMul")] = matmul_op;
    t[op_key("com.microsoft", "MatMulNBits")] = matmul_nbits_op;
    t[op_key("com.microsoft", "GatherBlockQuantized")] = gather_block_quantized_op;
}

}  // namespace mixq::eval::onnx
