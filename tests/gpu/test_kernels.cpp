// SPDX-License-Identifier: MIT
// CUDA element-wise and attention kernels against CPU references computed here in double (or by core's Rope) on
// odd shapes: RMSNorm (plain, per-head strided, fused residual add), RoPE (with llama3 scaling, large positions),
// SiLU·mul on a fused gate|up buffer, embedding gather / bias / conversion, causal GQA prefill attention and
// split decode attention (head_dim 32..256, groups 1..20). Columns outside the strided views must stay untouched.
#include <QtTest>

#include <algorithm>
#include <cmath>

#include "core/engine/rope.h"
#include "gpu/attention.cuh"
#include "gpu/elementwise.cuh"
#include "gpu/gpu_test_support.h"
#include "gpu/rms_norm.cuh"
#include "gpu/rope.cuh"
#include "gpu/silu_mul.cuh"
#include "test_support.h"

using namespace mixq;
using namespace mixq_gpu_test;

namespace {

constexpr float kSentinel = 12345.0f;

/// Tolerance for values written in dtype t after fp32 math: abs + one rounding of t (×2) relative.
double rel_tol(DType t) { return 2.0 * unit_roundoff(t) + 1e-6; }

struct AttnCase {
    int tokens, pos0, nh, nkv, d;
};

/// Reference causal attention in double: q [T, q_stride], kv rows with K at col g·d and V at v_off + g·d.
std::vector<double> ref_attention(const std::vector<float>& q, int q_stride, const std::vector<float>& kv, int kv_stride,
                                  int v_off, int T, int pos0, int nh, int nkv, int d) {
    std::vector<double> out(static_cast<size_t>(T) * nh * d, 0.0);
    const int group = nh / nkv;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < nh; ++h) {
            const int g = h / group, n = pos0 + t + 1;
            std::vector<double> s(n);
            double mx = -1e300;
            for (int j = 0; j < n; ++j) {
                double dot = 0;
                for (int c = 0; c < d; ++c)
                    dot += double(q[size_t(t) * q_stride + h * d + c]) * kv[size_t(j) * kv_stride + g * d + c];
                s[j] = dot * scale;
                mx = std::max(mx, s[j]);
            }
            double sum = 0;
            for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
            for (int c = 0; c < d; ++c) {
                double acc = 0;
                for (int j = 0; j < n; ++j) acc += s[j] * kv[size_t(j) * kv_stride + v_off + g * d + c];
                out[(size_t(t) * nh + h) * d + c] = acc / sum;
            }
        }
    return out;
}

}  // namespace

class TestGpuKernels : public QObject {
    Q_OBJECT

private slots:
    void rmsNormPlainAndPerHead() {
        MIXQ_REQUIRE_GPU();
        const float eps = 1e-5f;
        for (auto [xt, yt] : {std::pair{DType::F32, DType::F32}, {DType::F32, DType::BF16}, {DType::BF16, DType::BF16},
                              {DType::F16, DType::F16}, {DType::BF16, DType::F32}})
            for (int cols : {1, 5, 128, 1000, 4099})
                for (int rpg : {1, 3}) {
                    const int rows = rpg == 1 ? 7 : 3 * 5;  // per-head: 5 tokens × 3 heads
                    const int64_t gs = rpg == 1 ? cols : int64_t(3) * cols + 7;  // 7 junk columns per token
                    const int64_t groups = rows / rpg;
                    std::vector<float> x = rounded(randn(size_t(groups * gs), 1000 + cols, 2.0f, 0.3f), xt);
                    const std::vector<float> w = randn(cols, 7 + cols, 0.5f, 1.0f);
                    std::vector<float> y0(x.size(), kSentinel);
                    auto dx = upload(x, xt), dw = upload(w), dy = upload(y0, yt);
                    MIXQ_CUDA_OK(gpu::rms_norm(dx.data(), xt, dw.as<float>(), dy.data(), yt, rows, cols, eps, nullptr, rpg,
                                               rpg == 1 ? 0 : gs));
                    const auto y = download(dy, y0.size(), yt);
                    std::vector<double> ref(y.size());
                    std::vector<float> got(y.size());
                    std::vector<bool> inside(y.size(), false);
                    for (int r = 0; r < rows; ++r) {
                        const int64_t off = (r / rpg) * gs + (r % rpg) * int64_t(cols);
                        double ss = 0;
                        for (int c = 0; c < cols; ++c) ss += double(x[off + c]) * x[off + c];
                        const double inv = 1.0 / std::sqrt(ss / cols + eps);
                        for (int c = 0; c < cols; ++c) {
                            ref[off + c] = x[off + c] * inv * w[c];
                            inside[off + c] = true;
                        }
                    }
                    for (size_t i = 0; i < y.size(); ++i) {
                        if (!inside[i]) {
                            QVERIFY2(y[i] == rounded({kSentinel}, yt)[0], "rms_norm wrote outside its rows");
                            ref[i] = y[i];
                        }
                        got[i] = y[i];
                    }
                    size_t at = 0;
                    const double worst = worst_ratio(got, ref, 1e-6, rel_tol(yt) + 1e-5, nullptr, &at);
                    QVERIFY2(worst <= 1.0, qPrintable(QString("rms_norm %1->%2 cols %3 rpg %4: element %5 got %6 want %7")
                                                          .arg(dt_name(xt), dt_name(yt)).arg(cols).arg(rpg).arg(at)
                                                          .arg(got[at]).arg(ref[at])));
                }
    }

    void rmsNormInPlace() {
        MIXQ_REQUIRE_GPU();
        const int rows = 4, cols = 300;
        std::vector<float> x = randn(rows * cols, 3);
        const std::vector<float> w(cols, 1.0f);
        auto dx = upload(x), dw = upload(w);
        MIXQ_CUDA_OK(gpu::rms_norm(dx.data(), DType::F32, dw.as<float>(), dx.data(), DType::F32, rows, cols, 0.0f, nullptr));
        const auto y = download(dx, x.size());
        for (int r = 0; r < rows; ++r) {
            double ss = 0;
            for (int c = 0; c < cols; ++c) ss += double(y[r * cols + c]) * y[r * cols + c];
            QVERIFY2(std::fabs(ss / cols - 1.0) < 1e-5, "in-place rms_norm rows must have unit mean square");
        }
        QCOMPARE(gpu::rms_norm(dx.data(), DType::F32, dw.as<float>(), dx.data(), DType::BF16, rows, cols, 0.0f, nullptr),
                 cudaErrorInvalidValue);
    }

    void addRmsNorm() {
        MIXQ_REQUIRE_GPU();
        const float eps = 1e-6f;
        for (DType t : {DType::F32, DType::BF16, DType::F16})
            for (int cols : {3, 128, 2049}) {
                const int rows = 5;
                const auto res = randn(rows * cols, 11 + cols);
                const auto delta = rounded(randn(rows * cols, 12 + cols, 0.5f), t);
                const auto w = randn(cols, 13, 0.2f, 1.0f);
                auto dr = upload(res), dd = upload(delta, t), dw = upload(w), dy = upload(std::vector<float>(rows * cols), t);
                MIXQ_CUDA_OK(gpu::add_rms_norm(dr.as<float>(), dd.data(), t, dw.as<float>(), dy.data(), t, rows, cols, eps,
                                               nullptr));
                const auto r2 = download(dr, res.size());
                const auto y = download(dy, res.size(), t);
                std::vector<double> ref(y.size());
                for (int r = 0; r < rows; ++r) {
                    double ss = 0;
                    for (int c = 0; c < cols; ++c) {
                        const float s = res[r * cols + c] + delta[r * cols + c];  // fp32 sum, as the kernel
                        QCOMPARE(r2[r * cols + c], s);
                        ss += double(s) * s;
                    }
                    const double inv = 1.0 / std::sqrt(ss / cols + eps);
                    for (int c = 0; c < cols; ++c) ref[r * cols + c] = double(r2[r * cols + c]) * inv * w[c];
                }
                QVERIFY2(worst_ratio(y, ref, 1e-6, rel_tol(t) + 1e-5) <= 1.0,
                         qPrintable(QString("add_rms_norm %1 cols %2").arg(dt_name(t)).arg(cols)));
                // add only (y null)
                MIXQ_CUDA_OK(gpu::add_rms_norm(dr.as<float>(), dd.data(), t, nullptr, nullptr, t, rows, cols, eps, nullptr));
                const auto r3 = download(dr, res.size());
                for (size_t i = 0; i < r3.size(); ++i) QCOMPARE(r3[i], r2[i] + delta[i]);
            }
    }

    void ropeMatchesCoreRope() {
        MIXQ_REQUIRE_GPU();
        for (const char* scaling : {"none", "llama3"})
            for (int d : {2, 32, 64, 128})
                for (int pos0 : {0, 1000})
                    for (DType t : {DType::F32, DType::BF16}) {
                        io::ModelConfig c;
                        c.head_dim = d;
                        c.rope_theta = 500000.0;
                        c.rope_scaling.type = scaling;
                        c.rope_scaling.factor = 8.0;
                        c.rope_scaling.low_freq_factor = 1.0;
                        c.rope_scaling.high_freq_factor = 4.0;
                        c.rope_scaling.original_max_position_embeddings = 8192;
                        const engine::Rope rope(c);
                        const int rows = 5, heads = 3;
                        const int64_t stride = heads * d + 5;
                        const auto x = rounded(randn(rows * stride, 21 + d + pos0), t);
                        auto dx = upload(x, t), df = upload(rope.inv_freq());
                        MIXQ_CUDA_OK(gpu::rope(dx.data(), t, rows, heads, d, stride, pos0, df.as<float>(), nullptr));
                        const auto y = download(dx, x.size(), t);
                        engine::RowMatrix m(rows, heads * d);
                        for (int r = 0; r < rows; ++r)
                            for (int j = 0; j < heads * d; ++j) m(r, j) = x[r * stride + j];
                        rope.apply(m, heads, pos0);
                        std::vector<double> ref(x.begin(), x.end());
                        for (int r = 0; r < rows; ++r)
                            for (int j = 0; j < heads * d; ++j) ref[r * stride + j] = m(r, j);
                        size_t at = 0;
                        const double worst = worst_ratio(y, ref, 2e-5, rel_tol(t), nullptr, &at);
                        QVERIFY2(worst <= 1.0, qPrintable(QString("rope %1 d %2 pos0 %3 %4: element %5 got %6 want %7")
                                                              .arg(scaling).arg(d).arg(pos0).arg(dt_name(t)).arg(at)
                                                              .arg(y[at]).arg(ref[at])));
                    }
    }

    void siluMulOnFusedGateUp() {
        MIXQ_REQUIRE_GPU();
        for (DType t : {DType::F32, DType::BF16, DType::F16}) {
            const int rows = 7, cols = 1000;
            const auto gu = rounded(randn(rows * 2 * cols, 31, 3.0f), t);
            auto dg = upload(gu, t), dout = upload(std::vector<float>(rows * cols), t);
            MIXQ_CUDA_OK(gpu::silu_mul(dg.data(), static_cast<char*>(dg.data()) + cols * io::dtype_size(t), 2 * cols,
                                       dout.data(), cols, rows, cols, t, nullptr));
            const auto y = download(dout, rows * cols, t);
            std::vector<double> ref(y.size());
            for (int r = 0; r < rows; ++r)
                for (int c = 0; c < cols; ++c) {
                    const double g = gu[r * 2 * cols + c], u = gu[r * 2 * cols + cols + c];
                    ref[r * cols + c] = g / (1.0 + std::exp(-g)) * u;
                }
            QVERIFY2(worst_ratio(y, ref, 1e-6, rel_tol(t) + 1e-5) <= 1.0, qPrintable(QString("silu_mul %1").arg(dt_name(t))));
        }
    }

    void embedBiasConvert() {
        MIXQ_REQUIRE_GPU();
        const int vocab = 1000, cols = 37;
        const auto table = rounded(randn(vocab * cols, 41), DType::BF16);
        const std::vector<int> ids = {0, 999, 5, 5, 123};
        auto dt = upload(table, DType::BF16);
        gpu::DeviceBuffer di(ids.size() * 4);
        di.upload(ids.data(), ids.size() * 4);
        gpu::DeviceBuffer dout(ids.size() * cols * 4);
        MIXQ_CUDA_OK(gpu::embed_rows(dt.data(), DType::BF16, di.as<int>(), int(ids.size()), cols, dout.as<float>(), nullptr));
        const auto e = download(dout, ids.size() * cols);
        for (size_t r = 0; r < ids.size(); ++r)
            for (int c = 0; c < cols; ++c) QCOMPARE(e[r * cols + c], table[size_t(ids[r]) * cols + c]);

        const int rows = 3, n = 50, stride = 53;
        const auto y0 = randn(rows * stride, 42);
        const auto bias = randn(n, 43);
        auto dy = upload(y0), db = upload(bias);
        MIXQ_CUDA_OK(gpu::add_bias(dy.data(), DType::F32, db.as<float>(), rows, n, stride, nullptr));
        const auto y = download(dy, y0.size());
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < stride; ++c)
                QCOMPARE(y[r * stride + c], c < n ? y0[r * stride + c] + bias[c] : y0[r * stride + c]);

        const auto v = randn(10001, 44, 100.0f);
        auto dv = upload(v);
        gpu::DeviceBuffer dh(v.size() * 2);
        MIXQ_CUDA_OK(gpu::convert(dv.data(), DType::F32, dh.data(), DType::F16, int64_t(v.size()), nullptr));
        const auto h = download(dh, v.size(), DType::F16);
        const auto want = rounded(v, DType::F16);  // core's round-to-nearest-even conversion
        for (size_t i = 0; i < v.size(); ++i) QCOMPARE(h[i], want[i]);
    }

    void prefillAttention() {
        MIXQ_REQUIRE_GPU();
        const std::vector<AttnCase> cases = {{1, 0, 4, 2, 32},  {17, 0, 4, 2, 32},  {33, 5, 6, 1, 64},
                                             {40, 0, 3, 3, 80}, {100, 0, 8, 2, 128}, {20, 40, 4, 4, 256},
                                             {64, 0, 12, 4, 64}};
        for (DType t : {DType::F32, DType::BF16, DType::F16})
            for (const auto& c : cases) {
                const int q_stride = c.nh * c.d + 3, kv_stride = 2 * c.nkv * c.d, out_stride = c.nh * c.d + 1;
                const int total = c.pos0 + c.tokens;
                const auto q = rounded(randn(size_t(c.tokens) * q_stride, 51 + c.d, 1.5f), t);
                const auto kv = rounded(randn(size_t(total) * kv_stride, 52 + c.d, 1.5f), t);
                std::vector<float> out0(size_t(c.tokens) * out_stride, kSentinel);
                auto dq = upload(q, t), dkv = upload(kv, t), dout = upload(out0, t);
                const size_t es = io::dtype_size(t);
                MIXQ_CUDA_OK(gpu::attention_prefill(dq.data(), q_stride, dkv.data(),
                                                    static_cast<char*>(dkv.data()) + size_t(c.nkv) * c.d * es, kv_stride,
                                                    dout.data(), out_stride, c.tokens, c.pos0, c.nh, c.nkv, c.d, t, nullptr));
                const auto out = download(dout, out0.size(), t);
                const auto ref = ref_attention(q, q_stride, kv, kv_stride, c.nkv * c.d, c.tokens, c.pos0, c.nh, c.nkv, c.d);
                std::vector<float> got(ref.size());
                for (int tt = 0; tt < c.tokens; ++tt) {
                    for (int j = 0; j < c.nh * c.d; ++j) got[size_t(tt) * c.nh * c.d + j] = out[size_t(tt) * out_stride + j];
                    QVERIFY2(out[size_t(tt) * out_stride + c.nh * c.d] == rounded({kSentinel}, t)[0],
                             "attention wrote past its output row");
                }
                size_t at = 0;
                const double worst = worst_ratio(got, ref, t == DType::F32 ? 2e-5 : 2e-3, rel_tol(t), nullptr, &at);
                QVERIFY2(worst <= 1.0, qPrintable(QString("prefill %1 T %2 pos0 %3 heads %4/%5 d %6: element %7 got %8 want %9")
                                                      .arg(dt_name(t)).arg(c.tokens).arg(c.pos0).arg(c.nh).arg(c.nkv)
                                                      .arg(c.d).arg(at).arg(got[at]).arg(ref[at])));
            }
    }

    void decodeAttentionSplits() {
        MIXQ_REQUIRE_GPU();
        struct Case {
            int pos, nh, nkv, d;
        };
        const std::vector<Case> cases = {{0, 4, 2, 32},    {1, 4, 2, 64},   {31, 8, 1, 64},   {32, 32, 8, 64},
                                         {33, 20, 1, 128}, {500, 14, 2, 64}, {4000, 32, 8, 128}, {257, 3, 3, 256},
                                         {70, 16, 1, 80}};
        for (DType t : {DType::F32, DType::BF16})
            for (const auto& c : cases)
                for (bool ws : {false, true}) {
                    const int kv_stride = 2 * c.nkv * c.d;
                    const auto q = rounded(randn(size_t(c.nh) * c.d, 61 + c.pos, 1.5f), t);
                    const auto kv = rounded(randn(size_t(c.pos + 1) * kv_stride, 62 + c.pos, 1.5f), t);
                    auto dq = upload(q, t), dkv = upload(kv, t);
                    auto dout = upload(std::vector<float>(size_t(c.nh) * c.d + 1, kSentinel), t);
                    const size_t wsf = gpu::attention_decode_workspace_floats(c.nh, c.d, 64);
                    gpu::DeviceBuffer dws(ws ? wsf * 4 : 0);
                    const size_t es = io::dtype_size(t);
                    MIXQ_CUDA_OK(gpu::attention_decode(dq.data(), dkv.data(),
                                                       static_cast<char*>(dkv.data()) + size_t(c.nkv) * c.d * es, kv_stride,
                                                       dout.data(), c.pos, c.nh, c.nkv, c.d, t,
                                                       ws ? dws.as<float>() : nullptr, ws ? wsf : 0, nullptr));
                    auto out = download(dout, size_t(c.nh) * c.d + 1, t);
                    QVERIFY2(out.back() == rounded({kSentinel}, t)[0], "decode attention wrote past its output");
                    out.pop_back();
                    const auto ref = ref_attention(q, c.nh * c.d, kv, kv_stride, c.nkv * c.d, 1, c.pos, c.nh, c.nkv, c.d);
                    size_t at = 0;
                    const double worst = worst_ratio(out, ref, t == DType::F32 ? 2e-5 : 2e-3, rel_tol(t), nullptr, &at);
                    QVERIFY2(worst <= 1.0, qPrintable(QString("decode %1 pos %2 heads %3/%4 d %5 ws %6: element %7 got %8 want %9")
                                                          .arg(dt_name(t)).arg(c.pos).arg(c.nh).arg(c.nkv).arg(c.d).arg(ws)
                                                          .arg(at).arg(out[at]).arg(ref[at])));
                }
    }

    void rejectsBadArguments() {
        MIXQ_REQUIRE_GPU();
        gpu::DeviceBuffer b(1024);
        QCOMPARE(gpu::attention_prefill(b.data(), 512, b.data(), b.data(), 512, b.data(), 512, 1, 0, 2, 1, 512, DType::F32,
                                        nullptr),
                 cudaErrorInvalidValue);  // head_dim > 256
        QCOMPARE(gpu::attention_decode(b.data(), b.data(), b.data(), 64, b.data(), 0, 3, 2, 32, DType::F32, nullptr, 0,
                                       nullptr),
                 cudaErrorInvalidValue);  // 3 heads over 2 kv heads
        QCOMPARE(gpu::rope(b.data(), DType::F32, 1, 1, 3, 3, 0, b.as<float>(), nullptr), cudaErrorInvalidValue);  // odd d
    }
};

QTEST_APPLESS_MAIN(TestGpuKernels)
#include "test_kernels.moc"
