// SPDX-License-Identifier: MIT
// The built-in ONNX runner, op by op, on tiny hand-built graphs against references computed here from first
// principles: MatMulNBits from hand-packed codes (2/4/8 bits, partial blocks, packed/float/absent zero points,
// bias), GatherBlockQuantized (uint8, uint4, int4), the RMS norms in closed form, GroupQueryAttention against a
// naive causal attention with explicit RoPE (prefill, then a chunk on the past; packed and separate QKV; local
// window, softcap, interleaved rotary), the attention-mask subgraph, the shape ops, and one-line errors.
#include <QtTest>

#include <QProcess>
#include <QStandardPaths>

#include <atomic>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/common/error.h"
#include "core/common/half.h"
#include "core/eval/onnx/attention_block.h"
#include "core/eval/onnx/fast_exp.h"
#include "core/eval/onnx/nbits_int8_kernel.h"
#include "core/eval/onnx/onnx_builder.h"
#include "core/eval/onnx/onnx_runner.h"
#include "core/eval/onnx/runner_threads.h"
#include "core/eval/onnx/tensor_pool.h"
#include "process_memory.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::eval::onnx;
namespace ot = mixq::eval::onnx::onnx_type;
using mixq_test::error_of;

namespace {

std::mt19937& rng() {
    static std::mt19937 g(1234);
    return g;
}
float uni(float a, float b) { return std::uniform_real_distribution<float>(a, b)(rng()); }
int code(int levels) { return std::uniform_int_distribution<int>(0, levels - 1)(rng()); }
std::vector<float> rand_vec(size_t n, float a = -1.0f, float b = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = uni(a, b);
    return v;
}

/// Every graph the tests run is also kept for ONNX Runtime (the last test slot runs them all through
/// tests/ort/ort_run.js): the model, its inputs as raw files, and the runner's outputs to compare with.
struct OrtCase {
    std::filesystem::path model;
    nlohmann::json inputs = nlohmann::json::object();
    std::map<std::string, Tensor> outputs;
};
std::vector<OrtCase>& ort_cases() {
    static std::vector<OrtCase> cases;
    return cases;
}
std::filesystem::path ort_work() {
    static const auto dir = mixq_test::scratch("onnx_ops_ort");
    return dir;
}

void keep_for_ort(const ModelBuilder& b, const std::map<std::string, Tensor>& in, const std::map<std::string, Tensor>& out) {
    OrtCase c;
    const auto dir = ort_work() / ("case" + std::to_string(ort_cases().size()));
    std::filesystem::create_directories(dir);
    c.model = dir / "model.onnx";
    std::ofstream(c.model, std::ios::binary) << b.serialize_inline();
    for (const auto& [name, t] : in) {
        const auto file = dir / ("in_" + std::to_string(c.inputs.size()) + ".bin");
        std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(t.bytes()), static_cast<std::streamsize>(t.nbytes()));
        c.inputs[name] = {{"type", dtype_name(t.dtype())}, {"dims", t.shape()}, {"file", file.string()}};
    }
    c.outputs = out;
    ort_cases().push_back(std::move(c));
}

std::map<std::string, Tensor> run_inline(const ModelBuilder& b, const std::map<std::string, Tensor>& in,
                                         const std::vector<std::string>& out = {}, bool ort_can_run = true) {
    auto r = OnnxRunner::from_bytes(b.serialize_inline(), mixq_test::scratch("onnx_ops_inline"));
    auto res = r->run(in, out);
    if (ort_can_run) keep_for_ort(b, in, res);
    return res;
}

/// As run_inline, but the inputs are handed over (run(map&&)): the runner may write into their buffers.
std::map<std::string, Tensor> run_owned(const ModelBuilder& b, std::map<std::string, Tensor> in,
                                        const std::vector<std::string>& out = {}) {
    auto r = OnnxRunner::from_bytes(b.serialize_inline(), mixq_test::scratch("onnx_ops_inline"));
    return r->run(std::move(in), out);
}

double max_err(const Tensor& t, const std::vector<double>& ref) {
    if (t.dtype() != DType::Float || t.numel() != static_cast<int64_t>(ref.size())) return 1e30;
    double m = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) m = std::max(m, std::fabs(t.data<float>()[i] - ref[i]));
    return m;
}

/// Packs values of `bits` bits low-bits-first into bytes (values.size() * bits / 8 rounded up).
std::vector<uint8_t> pack_bits(const std::vector<int>& v, int bits) {
    std::vector<uint8_t> out((v.size() * static_cast<size_t>(bits) + 7) / 8, 0);
    for (size_t i = 0; i < v.size(); ++i)
        out[i * bits / 8] |= static_cast<uint8_t>((v[i] & ((1 << bits) - 1)) << ((i % (8 / bits)) * bits));
    return out;
}

enum class Zp { None, Packed, Float };

/// One MatMulNBits case: random codes, zero points and scales; reference from the unpacked values. Returns the
/// max abs error over max(1, max |output|).
/// ONNX Runtime's accuracy_level 4 activation blocks, written here from MLAS's rule (scale max|a|/127, codes
/// round-half-even(a·127/max|a|)), as an independent reference for the runner's emulation.
std::vector<float> int8_blocks(const std::vector<float>& a, int M, int K, int bs) {
    std::vector<float> out(a.size());
    for (int m = 0; m < M; ++m)
        for (int b0 = 0; b0 < K; b0 += bs) {
            const int n = std::min(bs, K - b0);
            float amax = 0.0f;
            for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(a[static_cast<size_t>(m * K + b0 + i)]));
            for (int i = 0; i < n; ++i) {
                const size_t j = static_cast<size_t>(m * K + b0 + i);
                out[j] = amax == 0.0f ? 0.0f : std::nearbyint(a[j] * (127.0f / amax)) * (amax / 127.0f);
            }
        }
    return out;
}

double nbits_case(int bits, int bs, int K, int N, int M, Zp zp_mode, bool bias, bool scales_2d, int level = 0) {
    const int kb = (K + bs - 1) / bs, levels = 1 << bits;
    std::vector<std::vector<int>> q(static_cast<size_t>(N), std::vector<int>(static_cast<size_t>(kb * bs)));
    std::vector<float> scales(static_cast<size_t>(N * kb)), zpf(static_cast<size_t>(N * kb));
    std::vector<int> zpi(static_cast<size_t>(N * kb));
    std::vector<uint8_t> B;
    std::vector<uint8_t> zp_packed;
    for (int n = 0; n < N; ++n) {
        for (auto& c : q[static_cast<size_t>(n)]) c = code(levels);  // padding past K is random too: must be ignored
        const auto row = pack_bits(q[static_cast<size_t>(n)], bits);
        B.insert(B.end(), row.begin(), row.end());
        std::vector<int> zrow;
        for (int b = 0; b < kb; ++b) {
            const size_t i = static_cast<size_t>(n * kb + b);
            scales[i] = uni(0.01f, 0.1f) * (code(2) ? 1.0f : -1.0f);
            zpi[i] = zp_mode == Zp::None ? levels / 2 : code(levels);
            zpf[i] = zp_mode == Zp::Float ? static_cast<float>(zpi[i]) + uni(-0.4f, 0.4f) : static_cast<float>(zpi[i]);
            zrow.push_back(zpi[i]);
        }
        // Pad the row to whole bytes with random bits (MLAS writes 8; the kernel must not read them).
        while ((zrow.size() * static_cast<size_t>(bits)) % 8) zrow.push_back(code(levels));
        const auto zb = pack_bits(zrow, bits);
        zp_packed.insert(zp_packed.end(), zb.begin(), zb.end());
    }
    const auto A = rand_vec(static_cast<size_t>(M * K));
    const auto bias_v = rand_vec(static_cast<size_t>(N));
    ModelBuilder b;
    b.input("A", ot::kFloat, {-1, K});
    b.output("Y", ot::kFloat, {-1, N});
    b.init_u8("B", {N, kb, bs * bits / 8}, B);
    b.init_f32("scales", scales_2d ? std::vector<int64_t>{N, kb} : std::vector<int64_t>{N * kb}, scales);
    std::vector<std::string> ins{"A", "B", "scales"};
    if (zp_mode == Zp::Packed) {
        b.init_u8("zp", {N, static_cast<int64_t>(zp_packed.size()) / N}, zp_packed);
        ins.push_back("zp");
    } else if (zp_mode == Zp::Float) {
        b.init_f32("zp", {N * kb}, zpf);
        ins.push_back("zp");
    }
    if (bias) {
        while (ins.size() < 5) ins.push_back("");
        b.init_f32("bias", {N}, bias_v);
        ins.push_back("bias");
    }
    b.node("MatMulNBits", ins, {"Y"}, "com.microsoft").i("K", K).i("N", N).i("bits", bits).i("block_size", bs).i("accuracy_level", level);
    // ORT 1.30 has no 8-bit kernel for float (unpacked) zero points.
    const auto out = run_inline(b, {{"A", Tensor::from_floats({M, K}, A)}}, {}, !(bits == 8 && zp_mode == Zp::Float));
    std::vector<double> ref(static_cast<size_t>(M * N), 0.0);
    const std::vector<float> Aq = level == 4 ? int8_blocks(A, M, K, bs) : A;
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            double s = bias ? bias_v[static_cast<size_t>(n)] : 0.0;
            for (int k = 0; k < K; ++k) {
                const size_t bi = static_cast<size_t>(n * kb + k / bs);
                s += static_cast<double>(Aq[static_cast<size_t>(m * K + k)]) *
                     (q[static_cast<size_t>(n)][static_cast<size_t>(k)] - static_cast<double>(zpf[bi])) * scales[bi];
            }
            ref[static_cast<size_t>(m * N + n)] = s;
        }
    if (out.at("Y").shape() != Shape{M, N}) return 1e30;
    double scale = 1.0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    return max_err(out.at("Y"), ref) / scale;  // relative to the largest output (8-bit codes give outputs ~100)
}

/// Naive GQA reference: full-sequence q/k/v per position, RoPE at absolute positions, causal softmax.
struct GqaRef {
    int Nh = 4, Nkv = 2, D = 16, T = 7;
    int window = -1;
    float softcap = 0.0f;
    bool interleaved = false;
    std::vector<float> q, k, v;  // [T][heads][D]
    std::vector<float> cos_cache, sin_cache;  // [kMaxPos][D/2]
    static constexpr int kMaxPos = 64;

    void init() {
        q = rand_vec(static_cast<size_t>(T * Nh * D));
        k = rand_vec(static_cast<size_t>(T * Nkv * D));
        v = rand_vec(static_cast<size_t>(T * Nkv * D));
        for (int p = 0; p < kMaxPos; ++p)
            for (int i = 0; i < D / 2; ++i) {
                const double f = p * std::pow(10000.0, -2.0 * i / D);
                cos_cache.push_back(static_cast<float>(std::cos(f)));
                sin_cache.push_back(static_cast<float>(std::sin(f)));
            }
    }
    std::vector<double> rope(const float* x, int pos) const {
        std::vector<double> o(x, x + D);
        for (int i = 0; i < D / 2; ++i) {
            const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + D / 2;
            const double c = std::cos(pos * std::pow(10000.0, -2.0 * i / D)), s = std::sin(pos * std::pow(10000.0, -2.0 * i / D));
            o[static_cast<size_t>(a)] = x[a] * c - x[b] * s;
            o[static_cast<size_t>(b)] = x[b] * c + x[a] * s;
        }
        return o;
    }
    /// Attention output rows [pos0, pos0+S) as [S][Nh*D].
    std::vector<double> output(int pos0, int S) const {
        std::vector<double> out;
        for (int p = pos0; p < pos0 + S; ++p)
            for (int h = 0; h < Nh; ++h) {
                const auto qr = rope(&q[static_cast<size_t>((p * Nh + h) * D)], p);
                const int kh = h / (Nh / Nkv);
                const int start = window > 0 ? std::max(0, p - window + 1) : 0;  // window keys incl. p
                std::vector<double> w;
                double mx = -1e300;
                for (int j = start; j <= p; ++j) {
                    const auto kr = rope(&k[static_cast<size_t>((j * Nkv + kh) * D)], j);
                    double d = 0.0;
                    for (int e = 0; e < D; ++e) d += qr[static_cast<size_t>(e)] * kr[static_cast<size_t>(e)];
                    d /= std::sqrt(static_cast<double>(D));
                    if (softcap > 0) d = softcap * std::tanh(d / softcap);
                    w.push_back(d);
                    mx = std::max(mx, d);
                }
                double sum = 0.0;
                for (auto& x : w) sum += (x = std::exp(x - mx));
                for (int e = 0; e < D; ++e) {
                    double acc = 0.0;
                    for (int j = start; j <= p; ++j)
                        acc += w[static_cast<size_t>(j - start)] / sum * v[static_cast<size_t>((j * Nkv + kh) * D + e)];
                    out.push_back(acc);
                }
            }
        return out;
    }
    /// Present key/value [1, Nkv, len, D] (keys rotated).
    std::vector<double> present(bool key, int len) const {
        std::vector<double> out;
        for (int h = 0; h < Nkv; ++h)
            for (int j = 0; j < len; ++j) {
                const float* src = &(key ? k : v)[static_cast<size_t>((j * Nkv + h) * D)];
                const auto r = key ? rope(src, j) : std::vector<double>(src, src + D);
                out.insert(out.end(), r.begin(), r.end());
            }
        return out;
    }
    /// Rows [pos0, pos0+S) of q (or k, v) as [1, S, heads*D].
    Tensor rows(const std::vector<float>& src, int heads, int pos0, int S) const {
        std::vector<float> o(src.begin() + pos0 * heads * D, src.begin() + (pos0 + S) * heads * D);
        return Tensor::from_floats({1, S, heads * D}, o);
    }
    Tensor packed_rows(int pos0, int S) const {
        std::vector<float> o;
        for (int p = pos0; p < pos0 + S; ++p) {
            o.insert(o.end(), q.begin() + p * Nh * D, q.begin() + (p + 1) * Nh * D);
            o.insert(o.end(), k.begin() + p * Nkv * D, k.begin() + (p + 1) * Nkv * D);
            o.insert(o.end(), v.begin() + p * Nkv * D, v.begin() + (p + 1) * Nkv * D);
        }
        return Tensor::from_floats({1, S, (Nh + 2 * Nkv) * D}, o);
    }
    void build(ModelBuilder& b, bool packed) const {
        const int X = packed ? (Nh + 2 * Nkv) * D : Nh * D;
        b.input("q", ot::kFloat, {1, -1, X});
        if (!packed) {
            b.input("k", ot::kFloat, {1, -1, Nkv * D});
            b.input("v", ot::kFloat, {1, -1, Nkv * D});
        }
        b.input("past_k", ot::kFloat, {1, Nkv, -1, D});
        b.input("past_v", ot::kFloat, {1, Nkv, -1, D});
        b.input("seqlens_k", ot::kInt32, {1});
        b.input("total", ot::kInt32, {});
        b.init_f32("cos", {kMaxPos, D / 2}, cos_cache);
        b.init_f32("sin", {kMaxPos, D / 2}, sin_cache);
        b.output("out", ot::kFloat, {1, -1, Nh * D});
        b.output("present_k", ot::kFloat, {1, Nkv, -1, D});
        b.output("present_v", ot::kFloat, {1, Nkv, -1, D});
        b.node("GroupQueryAttention",
               {"q", packed ? "" : "k", packed ? "" : "v", "past_k", "past_v", "seqlens_k", "total", "cos", "sin"},
               {"out", "present_k", "present_v"}, "com.microsoft", "/model/layers.0/attn/GroupQueryAttention")
            .i("num_heads", Nh)
            .i("kv_num_heads", Nkv)
            .f("scale", 1.0f / std::sqrt(static_cast<float>(D)))
            .i("do_rotary", 1)
            .i("rotary_interleaved", interleaved ? 1 : 0)
            .i("local_window_size", window)
            .f("softcap", softcap);
    }
};

Tensor i32(Shape s, std::vector<int32_t> v) {
    Tensor t = Tensor::alloc(DType::Int32, std::move(s));
    std::copy(v.begin(), v.end(), t.mutable_data<int32_t>());
    return t;
}

}  // namespace

class TestOnnxRunnerOps : public QObject {
    Q_OBJECT

private slots:
    void matMulNBits() {
        struct Case {
            int bits, bs, K, N, M;
            Zp zp;
            bool bias, scales_2d;
        };
        const Case cases[] = {
            {4, 32, 80, 5, 3, Zp::Packed, false, false},  // partial last block, odd k_blocks
            {4, 32, 96, 8, 2, Zp::None, false, true},     // default zp 8, 2-D scales
            {4, 16, 40, 3, 1, Zp::Float, false, false},   // unpacked float zero points
            {8, 16, 48, 4, 3, Zp::None, true, true},      // default zp 128, bias
            {8, 32, 64, 6, 2, Zp::Packed, false, false},
            {2, 16, 48, 5, 2, Zp::Packed, false, false},
            {4, 128, 256, 130, 4, Zp::Packed, false, true},
            // More activation rows than the fused kernel takes: dequantized tiles (more than one) and a GEMM.
            {4, 32, 80, 130, 20, Zp::Packed, true, false},
            {8, 16, 48, 70, 12, Zp::Float, false, true},
            {2, 16, 40, 9, 9, Zp::None, false, false},
        };
        for (const auto& c : cases) {
            const double e = nbits_case(c.bits, c.bs, c.K, c.N, c.M, c.zp, c.bias, c.scales_2d);
            qInfo("MatMulNBits bits=%d bs=%d K=%d N=%d M=%d: max relative err %.2e", c.bits, c.bs, c.K, c.N, c.M, e);
            QVERIFY(e < 1e-6);
        }
        // accuracy_level 4: int8 activation blocks (ORT's CompInt8), against the reference quantized here; every
        // graph is also checked against ONNX Runtime itself in opsMatchOnnxRuntime.
        const Case int8_act[] = {
            {4, 32, 128, 64, 1, Zp::Packed, false, true},  {4, 32, 128, 64, 12, Zp::Packed, false, true},
            {4, 128, 256, 96, 30, Zp::None, false, true},  {4, 16, 80, 40, 5, Zp::Packed, false, true},
            {8, 128, 128, 64, 1, Zp::None, false, true},   {8, 32, 128, 70, 12, Zp::Packed, false, true},
            {4, 64, 96, 33, 3, Zp::Packed, true, true},    {8, 16, 48, 20, 24, Zp::None, true, true},
            // The int8 kernels' tiles: 4 + 2 + 1 activation rows, eight blocks and a tail of two, of one.
            {4, 32, 320, 40, 7, Zp::Packed, false, true},  {8, 64, 576, 24, 6, Zp::Packed, true, true},
            {4, 256, 512, 20, 8, Zp::None, false, true},   {8, 32, 288, 17, 5, Zp::None, false, true},
            // An odd count of 32-code blocks (the last 4-bit chunk half full), few and many rows; prefill-sized
            // tiles with weight-row remainders (4 x 2 tiles, then single rows).
            {4, 32, 96, 37, 1, Zp::Packed, false, true},   {4, 32, 224, 37, 6, Zp::Packed, true, true},
            {4, 32, 160, 19, 9, Zp::None, false, true},    {8, 128, 384, 45, 33, Zp::Packed, false, true},
            {4, 64, 320, 27, 17, Zp::Packed, false, true}, {4, 128, 640, 23, 64, Zp::None, false, true},
            // An odd count of 256-code blocks; 8-bit blocks of 256 (chunks per block read at run time).
            {4, 256, 768, 9, 2, Zp::Packed, false, true},  {8, 256, 512, 10, 5, Zp::Packed, false, true},
            // The prepacked tiles (panels of 16 columns): 6-row tiles and every row remainder (5, 4, 3, 2, 1), two
            // panels per prefill tile and four per decode tile with a single-panel tail, a partial last panel, odd
            // block counts, a partial last block, blocks of 16.
            {4, 32, 160, 100, 13, Zp::Packed, true, true}, {8, 128, 384, 80, 11, Zp::None, false, true},
            {4, 128, 384, 70, 1, Zp::None, false, true},   {8, 32, 96, 33, 1, Zp::Packed, false, true},
            {4, 16, 48, 50, 4, Zp::Packed, false, true},   {4, 64, 200, 24, 8, Zp::Packed, true, true},
            {8, 16, 40, 47, 9, Zp::Packed, false, true},   {4, 32, 96, 17, 10, Zp::None, false, true},
            // Large enough to be split over the runner's worker threads (runner_threads.h), decode and prefill.
            {4, 32, 1024, 200, 1, Zp::Packed, true, true}, {8, 64, 512, 300, 7, Zp::Packed, false, true},
        };
        // Every int8 kernel this CPU can run (VNNI ones, the AVX2 one, the older few-rows kernel: "none").
        const std::string best = nbits_int8_kernel_name();
        int kernels = 0;
        for (const char* kernel : {"avx512vnni", "avxvnni", "avx2", "none"}) {
            if (!nbits_int8_use_kernel(kernel)) continue;
            ++kernels;
            for (const auto& c : int8_act) {
                const double e = nbits_case(c.bits, c.bs, c.K, c.N, c.M, c.zp, c.bias, c.scales_2d, 4);
                qInfo("MatMulNBits accuracy_level 4 [%s] bits=%d bs=%d K=%d N=%d M=%d: max relative err %.2e", kernel,
                      c.bits, c.bs, c.K, c.N, c.M, e);
                QVERIFY(e < 1e-6);
            }
        }
        QVERIFY(nbits_int8_use_kernel(best));
        QVERIFY(kernels >= 1);
    }

    // The runner's worker pool runs every item exactly once, job after job (a late worker never runs an item of
    // the next job), with any thread count, and serially when called from inside an item.
    void runnerThreadsRunEachItemOnce() {
        for (const int threads : {1, 2, 3}) {
            for (int rep = 0; rep < 300; ++rep) {
                const int64_t n = 1 + rep % 37;
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                parallel_for(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); }, threads);
                for (auto& h : hits) QCOMPARE(h.load(), 1);
            }
        }
        std::atomic<int> inner{0};
        parallel_for(4, [&](int64_t) { parallel_for(3, [&](int64_t) { inner.fetch_add(1); }, 2); }, 2);
        QCOMPARE(inner.load(), 12);
    }

    // Large tensors come back from the pool, zero-filled (alloc) as new ones; a slightly larger request (a KV cache
    // one position longer) reuses the same size class; small ones never enter it.
    void tensorPoolReusesBuffers() {
        const Shape big{1, 4, 100, 64};  // 100 KiB of floats
        const void* first = nullptr;
        {
            Tensor t = Tensor::alloc(DType::Float, big);
            first = t.bytes();
            std::fill(t.mutable_data<float>(), t.mutable_data<float>() + t.numel(), 3.0f);
        }
        const size_t held = tensor_pool_free_bytes();
        QVERIFY(held >= 100 * 1024);
        {
            Tensor again = Tensor::alloc(DType::Float, {1, 4, 101, 64});
            QCOMPARE(static_cast<const void*>(again.bytes()), first);
            QVERIFY(tensor_pool_free_bytes() < held);
            for (int64_t i = 0; i < again.numel(); ++i) QCOMPARE(again.data<float>()[i], 0.0f);
        }
        QCOMPARE(tensor_pool_free_bytes(), held);
        { Tensor small = Tensor::alloc(DType::Float, {1000}); }
        QCOMPARE(tensor_pool_free_bytes(), held);
    }

    void gatherBlockQuantized() {
        const int V = 6, K = 64, bs = 32, kb = 2;
        struct Case {
            int data_type, bits;
            bool zp;
        };
        for (const Case c : {Case{ot::kUInt8, 4, true}, Case{ot::kUInt8, 8, false}, Case{ot::kUInt4, 4, false},
                             Case{ot::kInt4, 4, true}}) {
            const bool is_signed = c.data_type == ot::kInt4;
            const int levels = 1 << c.bits;
            std::vector<int> codes(V * K), zps(V * kb);
            for (auto& x : codes) x = code(levels) - (is_signed ? 8 : 0);
            for (auto& x : zps) x = code(levels) - (is_signed ? 8 : 0);
            const auto scales = rand_vec(V * kb, 0.01f, 0.2f);
            ModelBuilder b;
            b.input("ids", ot::kInt64, {2, 3});
            b.output("out", ot::kFloat, {2, 3, K});
            std::vector<uint8_t> data = pack_bits(codes, c.bits);  // flat packing == per-row packing here (K even)
            if (c.data_type == ot::kUInt8) b.init_u8("data", {V, K * c.bits / 8}, data);
            else b.initializer("data", c.data_type, {V, K}, data.data(), data.size());
            b.init_f32("scales", {V, kb}, scales);
            std::vector<std::string> ins{"data", "ids", "scales"};
            if (c.zp) {
                std::vector<uint8_t> zb;
                if (c.data_type == ot::kUInt8) {
                    for (int v = 0; v < V; ++v) {  // per row, padded to whole bytes
                        std::vector<int> row(zps.begin() + v * kb, zps.begin() + (v + 1) * kb);
                        const auto p = pack_bits(row, c.bits);
                        zb.insert(zb.end(), p.begin(), p.end());
                    }
                    b.init_u8("zp", {V, static_cast<int64_t>(zb.size()) / V}, zb);
                } else {
                    zb = pack_bits(zps, 4);
                    b.initializer("zp", c.data_type, {V, kb}, zb.data(), zb.size());
                }
                ins.push_back("zp");
            }
            b.node("GatherBlockQuantized", ins, {"out"}, "com.microsoft")
                .i("bits", c.bits).i("block_size", bs).i("gather_axis", 0).i("quantize_axis", 1);
            const std::vector<int64_t> ids{5, 0, 3, 3, 1, 2};
            const auto out = run_inline(b, {{"ids", Tensor::from_i64({2, 3}, ids)}});
            std::vector<double> ref;
            const double dflt = c.data_type == ot::kUInt8 ? levels / 2 : 0;
            for (auto v : ids)
                for (int k = 0; k < K; ++k) {
                    const double z = c.zp ? zps[static_cast<size_t>(v * kb + k / bs)] : dflt;
                    ref.push_back((codes[static_cast<size_t>(v * K + k)] - z) * scales[static_cast<size_t>(v * kb + k / bs)]);
                }
            QCOMPARE(out.at("out").shape(), (Shape{2, 3, K}));
            QVERIFY(max_err(out.at("out"), ref) < 1e-6);
        }
    }

    void rmsNorms() {
        const int H = 8;
        const auto x = rand_vec(2 * 3 * H), skip = rand_vec(2 * 3 * H), g = rand_vec(H, 0.5f, 1.5f), bias = rand_vec(H);
        ModelBuilder b;
        b.input("x", ot::kFloat, {2, 3, H});
        b.input("skip", ot::kFloat, {2, 3, H});
        b.output("y", ot::kFloat, {2, 3, H});
        b.output("y2", ot::kFloat, {2, 3, H});
        b.output("sum", ot::kFloat, {2, 3, H});
        b.init_f32("g", {H}, g);
        b.init_f32("bias", {H}, bias);
        b.node("SimplifiedLayerNormalization", {"x", "g"}, {"y"}).f("epsilon", 1e-5f).i("axis", -1).i("stash_type", 1);
        b.node("SkipSimplifiedLayerNormalization", {"x", "skip", "g", "bias"}, {"y2", "", "", "sum"}, "com.microsoft").f("epsilon", 1e-6f);
        const auto out = run_inline(b, {{"x", Tensor::from_floats({2, 3, H}, x)}, {"skip", Tensor::from_floats({2, 3, H}, skip)}});
        // Handed over, x and skip die at the norms, which then write into their buffers.
        std::map<std::string, Tensor> handed;  // filled by move: an initializer list would hold copies during the run
        handed["x"] = Tensor::from_floats({2, 3, H}, x);
        handed["skip"] = Tensor::from_floats({2, 3, H}, skip);
        const uint8_t* x_buf = handed["x"].bytes();
        const auto owned = run_owned(b, std::move(handed));
        QVERIFY(owned.at("y").bytes() == x_buf || owned.at("sum").bytes() == x_buf);  // written in place
        std::vector<double> y, y2, sum;
        for (int r = 0; r < 6; ++r) {
            double ss = 0.0, ss2 = 0.0;
            std::vector<double> s(H);
            for (int j = 0; j < H; ++j) {
                const size_t i = static_cast<size_t>(r * H + j);
                s[static_cast<size_t>(j)] = static_cast<double>(x[i]) + skip[i] + bias[static_cast<size_t>(j)];
                ss += static_cast<double>(x[i]) * x[i];
                ss2 += s[static_cast<size_t>(j)] * s[static_cast<size_t>(j)];
            }
            for (int j = 0; j < H; ++j) {
                const size_t i = static_cast<size_t>(r * H + j);
                y.push_back(x[i] / std::sqrt(ss / H + 1e-5) * g[static_cast<size_t>(j)]);
                y2.push_back(s[static_cast<size_t>(j)] / std::sqrt(ss2 / H + 1e-6) * g[static_cast<size_t>(j)]);
                sum.push_back(s[static_cast<size_t>(j)]);
            }
        }
        QVERIFY(max_err(out.at("y"), y) < 1e-5);
        QVERIFY(max_err(out.at("y2"), y2) < 1e-5);
        QVERIFY(max_err(out.at("sum"), sum) < 1e-6);
        QVERIFY(max_err(owned.at("y"), y) < 1e-5);
        QVERIFY(max_err(owned.at("y2"), y2) < 1e-5);
        QVERIFY(max_err(owned.at("sum"), sum) < 1e-6);
    }

    // Inputs handed over to run() are written in place only by their last reader: a value read again later (x by
    // Mul and Add), one requested as an output (z) and one the caller still holds keep their contents.
    void donatedBuffersKeepLaterReaders() {
        const int n = 40000;  // 160 KB: pooled buffers
        const auto x = rand_vec(n, -4.0f, 4.0f), c = rand_vec(n);
        ModelBuilder b;
        b.input("x", ot::kFloat, {1, n});
        b.input("c", ot::kFloat, {1, n});
        b.output("z", ot::kFloat, {1, n});
        b.output("w", ot::kFloat, {1, n});
        b.output("u", ot::kFloat, {1, n});
        b.node("Sigmoid", {"x"}, {"s"});
        b.node("Mul", {"x", "s"}, {"z"});       // s dies here (donated), x does not
        b.node("Add", {"z", "x"}, {"w"});       // x dies here; z is an output (kept)
        b.node("Sub", {"c", "w"}, {"u"});       // c and w: c donated, w an output
        std::vector<double> z, w, u;
        for (int i = 0; i < n; ++i) {
            const double sg = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
            z.push_back(x[i] * sg);
            w.push_back(z.back() + x[i]);
            u.push_back(c[i] - w.back());
        }
        const Tensor held = Tensor::from_floats({1, n}, x);
        for (bool owned : {false, true}) {
            std::map<std::string, Tensor> in;
            in["x"] = owned ? Tensor::from_floats({1, n}, x) : held;
            in["c"] = Tensor::from_floats({1, n}, c);
            const uint8_t* c_buf = in["c"].bytes();
            auto r = OnnxRunner::from_bytes(b.serialize_inline(), mixq_test::scratch("onnx_ops_inline"));
            const auto out = owned ? r->run(std::move(in)) : r->run(in);
            QCOMPARE(out.at("u").bytes() == c_buf, owned);  // Sub wrote into c's buffer only when it was handed over
            QVERIFY(max_err(out.at("z"), z) < 1e-6);
            QVERIFY(max_err(out.at("w"), w) < 1e-6);
            QVERIFY(max_err(out.at("u"), u) < 1e-6);
            QVERIFY(out.at("z").bytes() != out.at("w").bytes());
        }
        for (int i = 0; i < n; ++i) QCOMPARE(held.data<float>()[i], x[static_cast<size_t>(i)]);
    }

    // The blocked attention rows against a double-precision softmax: ragged and empty key ranges, rows and head
    // sizes that are not whole tiles, softcap and smooth softmax; and the polynomial exp against std::exp.
    void attentionRowsMatchNaive() {
        for (float x : {0.0f, -1e-8f, -0.3466f, -1.0f, -10.5f, -50.0f, -86.9f}) {
            const float e[1] = {x};
            float y[1] = {x};
            exp_shifted_sum(y, 1, 0.0f);
            QVERIFY2(std::fabs(y[0] - std::exp(e[0])) <= 3e-7f * std::exp(e[0]), std::to_string(x).c_str());
        }
        float tiny[3] = {-90.0f, -200.0f, -1e30f};
        QCOMPARE(exp_shifted_sum(tiny, 3, 0.0f), 0.0f);
        struct Case {
            int64_t rows, D, keys;
            float softcap;
            bool smooth;
        };
        for (const Case c : {Case{1, 64, 1, 0.0f, false}, Case{3, 64, 37, 0.0f, false}, Case{13, 24, 50, 0.0f, false},
                             Case{64, 16, 80, 30.0f, false}, Case{9, 40, 23, 0.0f, true}, Case{6, 128, 300, 0.0f, false},
                             Case{5, 12, 30, 0.0f, false}}) {  // D = 12: the plain loops
            const auto Q = rand_vec(static_cast<size_t>(c.rows * c.D), -2.0f, 2.0f);
            const auto K = rand_vec(static_cast<size_t>(c.keys * c.D), -2.0f, 2.0f);
            const auto V = rand_vec(static_cast<size_t>(c.keys * c.D));
            std::vector<int64_t> st(static_cast<size_t>(c.rows)), en(st.size());
            for (int64_t r = 0; r < c.rows; ++r) {  // a causal diagonal with a window, one empty row
                en[static_cast<size_t>(r)] = std::min<int64_t>(c.keys, c.keys - c.rows + r + 1 + (r % 3 == 0));
                st[static_cast<size_t>(r)] = std::max<int64_t>(0, en[static_cast<size_t>(r)] - 1 - code(40));
                if (r == 1 && c.rows > 2) st[1] = en[1];
            }
            AttentionParams p{c.D, 0.125f, c.softcap, c.smooth};
            AttentionScratch scratch;
            std::vector<float> out(static_cast<size_t>(c.rows * c.D), 7.0f);
            attend_rows(Q.data(), c.rows, st.data(), en.data(), K.data(), V.data(), p, scratch, out.data());
            double err = 0.0;
            for (int64_t r = 0; r < c.rows; ++r) {
                std::vector<double> w;
                double mx = c.smooth ? 0.0 : -1e300, sum = 0.0;
                for (int64_t j = st[r]; j < en[r]; ++j) {
                    double d = 0.0;
                    for (int64_t e = 0; e < c.D; ++e) d += static_cast<double>(Q[r * c.D + e]) * K[j * c.D + e];
                    d *= 0.125;
                    if (c.softcap > 0) d = c.softcap * std::tanh(d / c.softcap);
                    w.push_back(d);
                    mx = std::max(mx, d);
                }
                for (auto& x : w) sum += (x = std::exp(x - mx));
                if (c.smooth) sum += std::exp(-mx);
                for (int64_t e = 0; e < c.D; ++e) {
                    double acc = 0.0;
                    for (int64_t j = st[r]; j < en[r]; ++j) acc += w[static_cast<size_t>(j - st[r])] / sum * V[j * c.D + e];
                    err = std::max(err, std::fabs(out[static_cast<size_t>(r * c.D + e)] - acc));
                }
            }
            qInfo("attend_rows rows=%lld D=%lld keys=%lld: max abs err %.2e", static_cast<long long>(c.rows),
                  static_cast<long long>(c.D), static_cast<long long>(c.keys), err);
            QVERIFY(err < 2e-6);
        }
    }

    void groupQueryAttention() {
        struct Variant {
            int window;
            float softcap;
            bool interleaved;
        };
        for (const Variant var : {Variant{-1, 0.0f, false}, Variant{2, 0.0f, false}, Variant{3, 5.0f, true}}) {
            GqaRef ref;
            ref.window = var.window;
            ref.softcap = var.softcap;
            ref.interleaved = var.interleaved;
            ref.init();
            // Prefill 4 tokens with packed QKV and an empty past.
            ModelBuilder packed;
            ref.build(packed, true);
            const Tensor empty = Tensor::alloc(DType::Float, {1, ref.Nkv, 0, ref.D});
            auto r1 = run_inline(packed, {{"q", ref.packed_rows(0, 4)}, {"past_k", empty}, {"past_v", empty},
                                          {"seqlens_k", i32({1}, {3})}, {"total", i32({}, {4})}});
            QCOMPARE(r1.at("present_k").shape(), (Shape{1, ref.Nkv, 4, ref.D}));
            QVERIFY(max_err(r1.at("out"), ref.output(0, 4)) < 1e-5);
            QVERIFY(max_err(r1.at("present_k"), ref.present(true, 4)) < 1e-5);
            QVERIFY(max_err(r1.at("present_v"), ref.present(false, 4)) < 1e-6);
            // Then 3 more tokens on that past with separate Q, K, V.
            ModelBuilder sep;
            ref.build(sep, false);
            auto r2 = run_inline(sep, {{"q", ref.rows(ref.q, ref.Nh, 4, 3)}, {"k", ref.rows(ref.k, ref.Nkv, 4, 3)},
                                       {"v", ref.rows(ref.v, ref.Nkv, 4, 3)}, {"past_k", r1.at("present_k")},
                                       {"past_v", r1.at("present_v")}, {"seqlens_k", i32({1}, {6})}, {"total", i32({}, {7})}});
            QCOMPARE(r2.at("present_k").shape(), (Shape{1, ref.Nkv, 7, ref.D}));
            QVERIFY(max_err(r2.at("out"), ref.output(4, 3)) < 1e-5);
            QVERIFY(max_err(r2.at("present_k"), ref.present(true, 7)) < 1e-5);
            QVERIFY(max_err(r2.at("present_v"), ref.present(false, 7)) < 1e-6);
        }
    }

    // A prefill longer than one block of query rows (32 positions x 2 heads here), with and without a window
    // shorter than a block, then a chunk on its past: the blocks' key ranges and per-row masks against the naive
    // reference (and ONNX Runtime, opsMatchOnnxRuntime).
    void groupQueryAttentionManyBlocks() {
        for (const int window : {-1, 5}) {
            GqaRef ref;
            ref.T = 45;
            ref.window = window;
            ref.init();
            ModelBuilder packed, sep;
            ref.build(packed, true);
            ref.build(sep, false);
            const Tensor empty = Tensor::alloc(DType::Float, {1, ref.Nkv, 0, ref.D});
            auto r1 = run_inline(packed, {{"q", ref.packed_rows(0, 40)}, {"past_k", empty}, {"past_v", empty},
                                          {"seqlens_k", i32({1}, {39})}, {"total", i32({}, {40})}});
            QVERIFY(max_err(r1.at("out"), ref.output(0, 40)) < 1e-5);
            QVERIFY(max_err(r1.at("present_k"), ref.present(true, 40)) < 1e-5);
            auto r2 = run_inline(sep, {{"q", ref.rows(ref.q, ref.Nh, 40, 5)}, {"k", ref.rows(ref.k, ref.Nkv, 40, 5)},
                                       {"v", ref.rows(ref.v, ref.Nkv, 40, 5)}, {"past_k", r1.at("present_k")},
                                       {"past_v", r1.at("present_v")}, {"seqlens_k", i32({1}, {44})}, {"total", i32({}, {45})}});
            QVERIFY(max_err(r2.at("out"), ref.output(40, 5)) < 1e-5);
            QVERIFY(max_err(r2.at("present_v"), ref.present(false, 45)) < 1e-6);
        }
    }

    // A past buffer at full capacity (ORT GenAI's shared past/present) handed over to run() becomes present: the new
    // keys are appended in place, nothing is reallocated, and the results equal the copying path's and the naive
    // reference. A past the caller still holds is copied instead and left unchanged.
    void groupQueryAttentionAppendsInPlace() {
        for (const int window : {-1, 3}) {
            GqaRef ref;
            ref.window = window;
            ref.init();
            const int C = 11;  // capacity
            ModelBuilder packed, sep;
            ref.build(packed, true);
            ref.build(sep, false);
            auto cache = [&] { return Tensor::alloc(DType::Float, {1, ref.Nkv, C, ref.D}); };
            // Present positions [0, len) of a [1, Nkv, C, D] buffer, as [1, Nkv, len, D].
            auto head_rows = [&](const Tensor& t, int len) {
                std::vector<float> o;
                for (int h = 0; h < ref.Nkv; ++h)
                    o.insert(o.end(), t.data<float>() + h * C * ref.D, t.data<float>() + (h * C + len) * ref.D);
                return Tensor::from_floats({1, ref.Nkv, len, ref.D}, o);
            };
            // Inputs are moved into the map one by one: an initializer list would keep copies alive during the run.
            std::map<std::string, Tensor> step1{{"q", ref.packed_rows(0, 4)}, {"seqlens_k", i32({1}, {3})}, {"total", i32({}, {4})}};
            step1["past_k"] = cache();
            step1["past_v"] = cache();
            const uint8_t* kbuf = step1["past_k"].bytes();
            auto r1 = run_owned(packed, std::move(step1));
            QCOMPARE(r1.at("present_k").shape(), (Shape{1, ref.Nkv, C, ref.D}));
            QCOMPARE(r1.at("present_k").bytes(), kbuf);
            QVERIFY(max_err(r1.at("out"), ref.output(0, 4)) < 1e-5);
            QVERIFY(max_err(head_rows(r1.at("present_k"), 4), ref.present(true, 4)) < 1e-5);
            QVERIFY(max_err(head_rows(r1.at("present_v"), 4), ref.present(false, 4)) < 1e-6);
            auto step2 = [&](Tensor k, Tensor v) {
                std::map<std::string, Tensor> m{{"q", ref.rows(ref.q, ref.Nh, 4, 3)}, {"k", ref.rows(ref.k, ref.Nkv, 4, 3)},
                                                {"v", ref.rows(ref.v, ref.Nkv, 4, 3)}, {"seqlens_k", i32({1}, {6})},
                                                {"total", i32({}, {7})}};
                m["past_k"] = std::move(k);
                m["past_v"] = std::move(v);
                return m;
            };
            // Handed over while the caller still holds it: copied, and the caller's past is unchanged.
            const Tensor held_k = r1.at("present_k"), held_v = r1.at("present_v");
            r1.clear();
            const std::vector<float> before(held_k.data<float>(), held_k.data<float>() + held_k.numel());
            const auto copied = run_owned(sep, step2(held_k, held_v));
            QVERIFY(copied.at("present_k").bytes() != kbuf);
            for (size_t i = 0; i < before.size(); ++i) QCOMPARE(held_k.data<float>()[i], before[i]);
            // The only handle: appended in place, the same values as the copying path.
            Tensor solo_k = cache(), solo_v = cache();
            std::copy(held_k.data<float>(), held_k.data<float>() + held_k.numel(), solo_k.mutable_data<float>());
            std::copy(held_v.data<float>(), held_v.data<float>() + held_v.numel(), solo_v.mutable_data<float>());
            const uint8_t* solo_buf = solo_k.bytes();
            const auto r2 = run_owned(sep, step2(std::move(solo_k), std::move(solo_v)));
            QCOMPARE(r2.at("present_k").bytes(), solo_buf);
            QCOMPARE(r2.at("present_k").shape(), (Shape{1, ref.Nkv, C, ref.D}));
            QVERIFY(max_err(r2.at("out"), ref.output(4, 3)) < 1e-5);
            QVERIFY(max_err(head_rows(r2.at("present_k"), 7), ref.present(true, 7)) < 1e-5);
            QVERIFY(max_err(head_rows(r2.at("present_v"), 7), ref.present(false, 7)) < 1e-6);
            for (int64_t i = 0; i < copied.at("out").numel(); ++i)
                QCOMPARE(r2.at("out").data<float>()[i], copied.at("out").data<float>()[i]);
            QVERIFY(max_err(head_rows(copied.at("present_k"), 7), ref.present(true, 7)) < 1e-5);
        }
    }

    void attentionMaskSubgraph() {
        for (int keepdims : {0, 1}) {
            ModelBuilder b;
            b.input("attention_mask", ot::kInt64, {1, -1});
            b.output("seqlens_k", ot::kInt32, {-1});
            b.output("total", ot::kInt32, {});
            const int64_t one1[1] = {1}, one = 1;
            b.node("Constant", {}, {"/model/constants/INT64/[1]"}).t("value", ot::kInt64, {1}, one1, 8);
            b.node("Constant", {}, {"/model/constants/INT64/1"}).t("value", ot::kInt64, {}, &one, 8);
            const std::string P = "/model/attn_mask_reformat/attn_mask_subgraph";
            b.node("ReduceSum", {"attention_mask", "/model/constants/INT64/[1]"}, {P + "/ReduceSum/output_0"}, "", P + "/ReduceSum")
                .i("keepdims", keepdims);
            b.node("Sub", {P + "/ReduceSum/output_0", "/model/constants/INT64/[1]"}, {P + "/Sub/output_0"}, "", P + "/Sub");
            b.node("Cast", {P + "/Sub/output_0"}, {"seqlens_k"}, "", P + "/Sub/Cast").i("to", ot::kInt32);
            b.node("Shape", {"attention_mask"}, {P + "/Shape/output_0"}, "", P + "/Shape");
            b.node("Gather", {P + "/Shape/output_0", "/model/constants/INT64/1"}, {P + "/Gather/output_0"}, "", P + "/Gather").i("axis", 0);
            b.node("Cast", {P + "/Gather/output_0"}, {"total"}, "", P + "/Gather/Cast").i("to", ot::kInt32);
            const auto out = run_inline(b, {{"attention_mask", Tensor::from_i64({1, 5}, {1, 1, 1, 1, 1})}});
            QCOMPARE(out.at("seqlens_k").dtype(), DType::Int32);
            QCOMPARE(out.at("seqlens_k").shape(), keepdims ? (Shape{1, 1}) : (Shape{1}));
            QCOMPARE(out.at("seqlens_k").data<int32_t>()[0], 4);
            QCOMPARE(out.at("total").dtype(), DType::Int32);
            QCOMPARE(out.at("total").shape(), Shape{});
            QCOMPARE(out.at("total").data<int32_t>()[0], 5);
        }
    }

    void shapeAndElementwiseOps() {
        // x [2,3,4] = 0..23 / 10
        std::vector<float> x(24);
        for (int i = 0; i < 24; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i) / 10.0f - 1.0f;
        ModelBuilder b;
        b.input("x", ot::kFloat, {2, 3, 4});
        const std::pair<const char*, std::vector<int64_t>> outs[] = {
            {"t", {12, 2}}, {"s0", {5, 2}}, {"s1", {7, 2}}, {"silu", {5, 2}}, {"addb", {7, 2}}, {"expd", {2, 3, 4}},
            {"sl", {2, 3, 2}}, {"ga", {2, 2, 4}}, {"cat", {2, 3, 8}}, {"ci", {2, 3, 4}}, {"bm", {2, 3, 5}}, {"mv", {2, 3}},
            {"uq", {1, 2, 3, 2}}, {"sq", {2, 3, 2}}};
        for (const auto& [name, dims] : outs) b.output(name, ot::kFloat, dims);
        b.output("h", ot::kFloat16, {2, 3, 4});  // held as fp32 by the runner
        b.init_i64("shape", {2}, {0, -1});
        b.init_i64("sizes", {2}, {5, 7});
        b.init_f32("bias2", {2}, {10.0f, -10.0f});
        b.init_f32("col", {3, 1}, {1.0f, 2.0f, 3.0f});
        b.init_i64("eshape", {3}, {2, 3, 4});
        b.init_i64("st", {1}, {1});
        b.init_i64("en", {1}, {3});
        b.init_i64("ax", {1}, {2});
        b.init_i64("idx", {2}, {2, 0});
        b.init_f32("w", {2, 4, 5}, rand_vec(40));
        b.init_f32("vec", {4}, {1.0f, -1.0f, 0.5f, 2.0f});
        b.init_i64("ax0", {1}, {0});
        b.node("Reshape", {"x", "shape"}, {"r"});                                  // [2,12]
        b.node("Transpose", {"r"}, {"t"}).ints("perm", {1, 0});                     // [12,2]
        b.node("Split", {"t", "sizes"}, {"s0", "s1"}).i("axis", 0);                 // [5,2], [7,2]
        b.node("Sigmoid", {"s0"}, {"sg"});
        b.node("Mul", {"s0", "sg"}, {"silu"});
        b.node("Add", {"s1", "bias2"}, {"addb"});                                   // broadcast [2]
        b.node("Expand", {"col", "eshape"}, {"expd"});                              // [3,1] -> [2,3,4]
        b.node("Slice", {"x", "st", "en", "ax"}, {"sl"});                           // x[:, :, 1:3]
        b.node("Gather", {"x", "idx"}, {"ga"}).i("axis", 1);                         // x[:, [2,0], :]
        b.node("Concat", {"x", "expd"}, {"cat"}).i("axis", 2);                      // [2,3,8]
        b.node("Cast", {"x"}, {"ci64"}).i("to", ot::kInt64);
        b.node("Cast", {"ci64"}, {"ci"}).i("to", ot::kFloat);                       // trunc toward 0
        b.node("Cast", {"x"}, {"h"}).i("to", ot::kFloat16);                         // fp16 rounding
        b.node("MatMul", {"x", "w"}, {"bm"});                                       // batched [2,3,4]x[2,4,5]
        b.node("MatMul", {"x", "vec"}, {"mv"});                                     // [2,3,4]x[4] -> [2,3]
        b.node("Unsqueeze", {"sl", "ax0"}, {"uq"});                                  // [1,2,3,2]
        b.node("Squeeze", {"uq", "ax0"}, {"sq"});
        const auto out = run_inline(b, {{"x", Tensor::from_floats({2, 3, 4}, x)}});
        auto X = [&](int i, int j, int k) { return static_cast<double>(x[static_cast<size_t>((i * 3 + j) * 4 + k)]); };
        // Transpose of the [2,12] reshape: t[i][j] = x_flat[j*12 + i]; split rows 0..4 and 5..11.
        std::vector<double> s0, s1, silu, addb;
        for (int i = 0; i < 12; ++i)
            for (int j = 0; j < 2; ++j) {
                const double v = x[static_cast<size_t>(j * 12 + i)];
                if (i < 5) {
                    s0.push_back(v);
                    silu.push_back(v / (1.0 + std::exp(-v)));
                } else {
                    s1.push_back(v);
                    addb.push_back(v + (j == 0 ? 10.0 : -10.0));
                }
            }
        QCOMPARE(out.at("t").shape(), (Shape{12, 2}));
        QVERIFY(max_err(out.at("s0"), s0) < 1e-7);
        QVERIFY(max_err(out.at("s1"), s1) < 1e-7);
        QVERIFY(max_err(out.at("silu"), silu) < 1e-6);
        QVERIFY(max_err(out.at("addb"), addb) < 1e-6);
        std::vector<double> expd, sl, ga, cat, ci, bm, mv;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j) {
                for (int k = 0; k < 4; ++k) expd.push_back(j + 1.0);
                for (int k = 1; k < 3; ++k) sl.push_back(X(i, j, k));
                for (int k = 0; k < 8; ++k) cat.push_back(k < 4 ? X(i, j, k) : j + 1.0);
                double m = 0.0;
                const double vec[4] = {1.0, -1.0, 0.5, 2.0};
                for (int k = 0; k < 4; ++k) {
                    ci.push_back(std::trunc(X(i, j, k)));
                    m += X(i, j, k) * vec[k];
                }
                mv.push_back(m);
            }
        for (int i = 0; i < 2; ++i)
            for (int j : {2, 0})
                for (int k = 0; k < 4; ++k) ga.push_back(X(i, j, k));
        QVERIFY(max_err(out.at("expd"), expd) == 0.0);
        QCOMPARE(out.at("sl").shape(), (Shape{2, 3, 2}));
        QVERIFY(max_err(out.at("sl"), sl) == 0.0);
        QVERIFY(max_err(out.at("ga"), ga) == 0.0);
        QVERIFY(max_err(out.at("cat"), cat) == 0.0);
        QVERIFY(max_err(out.at("ci"), ci) == 0.0);
        QVERIFY(max_err(out.at("mv"), mv) < 1e-6);
        QCOMPARE(out.at("uq").shape(), (Shape{1, 2, 3, 2}));
        QVERIFY(max_err(out.at("sq"), sl) == 0.0);
        // fp16 rounding: 0.1 steps are not representable in fp16; the error is within half an fp16 ulp.
        const Tensor& h = out.at("h");
        for (int i = 0; i < 24; ++i) {
            const double v = x[static_cast<size_t>(i)], hv = h.data<float>()[i];
            QVERIFY(std::fabs(hv - v) <= std::ldexp(std::fabs(v), -11) + 1e-8);
        }
        QCOMPARE(out.at("bm").shape(), (Shape{2, 3, 5}));
    }

    void batchedMatMulMatchesLoops() {
        const auto a = rand_vec(2 * 3 * 4), w = rand_vec(2 * 4 * 5);
        ModelBuilder b;
        b.input("a", ot::kFloat, {2, 3, 4});
        b.output("y", ot::kFloat, {2, 3, 5});
        b.init_f32("w", {2, 4, 5}, w);
        b.node("MatMul", {"a", "w"}, {"y"});
        const auto out = run_inline(b, {{"a", Tensor::from_floats({2, 3, 4}, a)}});
        std::vector<double> ref;
        for (int bi = 0; bi < 2; ++bi)
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 5; ++j) {
                    double s = 0.0;
                    for (int k = 0; k < 4; ++k)
                        s += static_cast<double>(a[static_cast<size_t>((bi * 3 + i) * 4 + k)]) * w[static_cast<size_t>((bi * 4 + k) * 5 + j)];
                    ref.push_back(s);
                }
        QVERIFY(max_err(out.at("y"), ref) < 1e-6);
    }

    void externalDataFile() {
        const auto dir = mixq_test::scratch("onnx_ops_external");
        const auto w = rand_vec(4 * 3);
        ModelBuilder b;
        b.input("a", ot::kFloat, {-1, 4});
        b.output("y", ot::kFloat, {-1, 3});
        b.init_f32("w", {4, 3}, w, true);
        b.init_f32("small", {1}, {2.0f}, true);
        b.node("MatMul", {"a", "w"}, {"m"});
        b.node("Mul", {"m", "small"}, {"y"});
        b.save(dir / "model.onnx");
        QVERIFY(std::filesystem::exists(dir / "model.onnx.data"));
        auto r = OnnxRunner::load(dir / "model.onnx");
        QCOMPARE(r->graph().external_bytes, uint64_t(13 * 4));
        const std::vector<float> a{1, 2, 3, 4};
        const auto out = r->run({{"a", Tensor::from_floats({1, 4}, a)}});
        std::vector<double> ref;
        for (int j = 0; j < 3; ++j) {
            double s = 0.0;
            for (int k = 0; k < 4; ++k) s += a[static_cast<size_t>(k)] * static_cast<double>(w[static_cast<size_t>(k * 3 + j)]);
            ref.push_back(2.0 * s);
        }
        QVERIFY(max_err(out.at("y"), ref) < 1e-5);
        // Without the data file the load fails with a message naming it.
        std::filesystem::remove(dir / "model.onnx.data");
        const auto msg = error_of([&] { OnnxRunner::load(dir / "model.onnx"); });
        QVERIFY2(msg.find("model.onnx.data") != std::string::npos && msg.find("does not exist") != std::string::npos, msg.c_str());
    }

    void externalPagesReleased() {
        // Tensor::release_file_pages (called once a MatMulNBits weight is prepacked) drops a file view's pages from
        // resident memory and loses nothing: the bytes read back from the file, and the graph computes the same.
        const auto dir = mixq_test::scratch("onnx_ops_release");
        const int64_t n = 1024;
        std::vector<float> w(static_cast<size_t>(n * n));
        for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i % 251) - 125) / 64.0f;
        ModelBuilder b;
        b.input("a", ot::kFloat, {1, n});
        b.output("y", ot::kFloat, {1, n});
        b.init_f32("w", {n, n}, w, true);
        b.node("MatMul", {"a", "w"}, {"y"});
        b.save(dir / "model.onnx");
        auto r = OnnxRunner::load(dir / "model.onnx");
        const Tensor& t = r->graph().initializers.at("w");
        auto rss_kb = [] { return static_cast<long>(mixq_test::status_bytes("VmRSS") / 1024); };
        auto checksum = [&] {
            double s = 0;
            for (int64_t i = 0; i < n * n; ++i) s += t.data<float>()[i] * static_cast<double>(i % 7 + 1);
            return s;
        };
        const double before = checksum();  // every page resident
        const long rss_touched = rss_kb();
        t.release_file_pages();
        const long rss_released = rss_kb();
        qInfo("4 MiB external weight: RSS %ld -> %ld KiB after release_file_pages", rss_touched, rss_released);
        QVERIFY2(rss_touched - rss_released >= 3 * 1024, "the file view's pages stayed resident");
        QCOMPARE(checksum(), before);
        std::vector<float> a(static_cast<size_t>(n), 0.0f);
        a[3] = 1.0f;
        const auto out = r->run({{"a", Tensor::from_floats({1, n}, a)}});
        std::vector<double> ref(w.begin() + 3 * n, w.begin() + 4 * n);
        QVERIFY(max_err(out.at("y"), ref) < 1e-6);
        // Owned tensors are left alone (their pages hold the only copy).
        const Tensor owned = Tensor::from_floats({2}, {1.5f, -2.0f});
        owned.release_file_pages();
        QCOMPARE(owned.data<float>()[1], -2.0f);
    }

    void clearErrors() {
        {
            ModelBuilder b;
            b.input("a", ot::kFloat, {1});
            b.output("y", ot::kFloat, {1});
            b.node("FancyNewOp", {"a"}, {"y"}, "com.microsoft", "/model/layers.3/fancy/FancyNewOp");
            const auto msg = error_of([&] { OnnxRunner::from_bytes(b.serialize_inline(), ".", "demo.onnx"); });
            QVERIFY2(msg == "demo.onnx: node '/model/layers.3/fancy/FancyNewOp' (com.microsoft:FancyNewOp): unsupported operator", msg.c_str());
        }
        {
            // MatMulNBits with B given 2-D (what ORT also rejects).
            ModelBuilder b;
            b.input("a", ot::kFloat, {1, 32});
            b.output("y", ot::kFloat, {1, 2});
            b.init_u8("B", {2, 16}, std::vector<uint8_t>(32, 0x88));
            b.init_f32("s", {2}, {1.0f, 1.0f});
            b.node("MatMulNBits", {"a", "B", "s"}, {"y"}, "com.microsoft", "/lm_head/MatMul_Q4").i("K", 32).i("N", 2).i("bits", 4).i("block_size", 32);
            auto r = OnnxRunner::from_bytes(b.serialize_inline(), ".", "m.onnx");
            const auto msg = error_of([&] { r->run({{"a", Tensor::from_floats({1, 32}, std::vector<float>(32, 1.0f))}}); });
            QVERIFY2(msg.rfind("m.onnx: node '/lm_head/MatMul_Q4' (com.microsoft:MatMulNBits): B uint8[2,16] does not match", 0) == 0, msg.c_str());
            QVERIFY(msg.find('\n') == std::string::npos);
            // Wrong input shape / missing input / unknown input name.
            const auto m2 = error_of([&] { r->run({{"a", Tensor::from_floats({1, 16}, std::vector<float>(16, 1.0f))}}); });
            QVERIFY2(m2.find("input 'a' has shape [1,16], the graph declares [1,32]") != std::string::npos, m2.c_str());
            QVERIFY(error_of([&] { r->run({}); }).find("graph input 'a' was not given") != std::string::npos);
            QVERIFY(error_of([&] { r->run({{"zz", Tensor::scalar_i64(1)}}); }).find("'zz' is not an input") != std::string::npos);
        }
        {
            ModelBuilder b;
            b.input("a", ot::kFloat, {1});
            b.output("y", ot::kFloat, {1});
            b.node("Add", {"a", "nowhere"}, {"y"}, "", "/add");
            const auto msg = error_of([&] { OnnxRunner::from_bytes(b.serialize_inline(), ".", "m.onnx"); });
            QVERIFY2(msg.find("node '/add' (Add): input 'nowhere' is not a graph input") != std::string::npos, msg.c_str());
        }
        {
            ModelBuilder b;
            b.input("ids", ot::kInt64, {1});
            b.output("y", ot::kFloat, {1, 2});
            b.init_f32("table", {3, 2}, {1, 2, 3, 4, 5, 6});
            b.node("Gather", {"table", "ids"}, {"y"}, "", "/model/embed_tokens/Gather");
            auto r = OnnxRunner::from_bytes(b.serialize_inline(), ".", "m.onnx");
            const auto out = r->run({{"ids", Tensor::from_i64({1}, {2})}});
            QCOMPARE(out.at("y").data<float>()[1], 6.0f);
            const auto msg = error_of([&] { r->run({{"ids", Tensor::from_i64({1}, {3})}}); });
            QVERIFY2(msg == "m.onnx: node '/model/embed_tokens/Gather' (Gather): index 3 out of range for axis of size 3", msg.c_str());
        }
    }

    /// Runs last: every graph above through real ONNX Runtime, outputs compared with the runner's.
    void opsMatchOnnxRuntime() {
        const auto ort_dir = std::filesystem::path(MIXQ_SOURCE_RESOURCES).parent_path() / "tests" / "ort";
        if (QStandardPaths::findExecutable("node").isEmpty() || !std::filesystem::exists(ort_dir / "ort_run.js") ||
            !std::filesystem::exists(ort_dir / "node_modules" / "onnxruntime-node" / "package.json")) {
            qWarning("MIXQ-SKIP: ONNX Runtime is not installed in tests/ort (core_test_export_ort installs it with npm ci); "
                     "the op-vs-ORT check is skipped, the closed-form references above still ran");
            QSKIP("MIXQ-SKIP: ONNX Runtime not installed in tests/ort");
        }
        QVERIFY2(ort_cases().size() > 20, "the graphs are collected by the slots above: run the whole test");
        nlohmann::json jobs = nlohmann::json::array();
        for (size_t i = 0; i < ort_cases().size(); ++i)
            jobs.push_back({{"model", ort_cases()[i].model.string()}, {"inputs", ort_cases()[i].inputs},
                            {"out_dir", (ort_work() / ("out" + std::to_string(i))).string()}});
        std::ofstream(ort_work() / "jobs.json") << jobs.dump();
        QProcess p;
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert("ORT_DISABLE_TELEMETRY", "1");
        p.setProcessEnvironment(env);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("node", {QString::fromStdString((ort_dir / "ort_run.js").string()),
                         QString::fromStdString((ort_work() / "jobs.json").string())});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAll().constData());
        double worst = 0.0;
        int compared = 0;
        for (size_t i = 0; i < ort_cases().size(); ++i) {
            const auto out = ort_work() / ("out" + std::to_string(i));
            const auto meta = nlohmann::json::parse(mixq_test::read_text(out / "outputs.json"));
            for (const auto& [name, ours] : ort_cases()[i].outputs) {
                QVERIFY2(meta.contains(name), name.c_str());
                QCOMPARE(meta[name]["dims"].get<std::vector<int64_t>>(), ours.shape());
                const std::string bytes = mixq_test::read_text(out / (name + ".bin"));
                const std::string type = meta[name]["type"].get<std::string>();
                double scale = 1.0, err = 0.0;
                for (int64_t k = 0; k < ours.numel(); ++k) {
                    double theirs = 0.0, mine = 0.0;
                    if (type == "float32") theirs = reinterpret_cast<const float*>(bytes.data())[k];
                    else if (type == "float16") theirs = f16_to_float(reinterpret_cast<const uint16_t*>(bytes.data())[k]);
                    else if (type == "int32") theirs = reinterpret_cast<const int32_t*>(bytes.data())[k];
                    else if (type == "int64") theirs = static_cast<double>(reinterpret_cast<const int64_t*>(bytes.data())[k]);
                    else QFAIL(("unexpected ORT output type " + type).c_str());
                    if (ours.dtype() == DType::Float) mine = ours.data<float>()[k];
                    else mine = static_cast<double>(ours.to_i64()[static_cast<size_t>(k)]);
                    scale = std::max(scale, std::fabs(theirs));
                    err = std::max(err, std::fabs(theirs - mine));
                }
                if (err / scale > 1e-6) qWarning("graph %zu output %s: |runner - ORT| / max(1, |ORT|) = %.2e", i, name.c_str(), err / scale);
                worst = std::max(worst, err / scale);
                ++compared;
            }
        }
        qInfo("%d outputs of %zu graphs: max |runner - ORT| / max(1, |ORT|) = %.2e", compared, ort_cases().size(), worst);
        QVERIFY(worst < 1e-6);
    }
};

QTEST_APPLESS_MAIN(TestOnnxRunnerOps)
#include "test_onnx_runner_ops.moc"
