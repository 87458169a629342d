// SPDX-License-Identifier: MIT
// Quantization kernels against core/quant: block fake quantization bitwise equal to quant::fake_quantize (RTN,
// 4/8 bits, symmetric and asymmetric, every block size, F16/BF16/F32 scales, odd k, all-zero / one-signed /
// subnormal-scale blocks); the MatMulNBits W4/W8 matmul (GEMV and GEMM kernels, F32/BF16/F16 activations) against
// x·dequantize(W)ᵀ computed in double from core's dequantizer; cuBLAS gemm_wt against a double product.
#include <QtTest>

#include <cmath>
#include <cstring>

#include "core/quant/quantizer.h"
#include "gpu/dense_gemm.h"
#include "gpu/fake_quant.cuh"
#include "gpu/gpu_test_support.h"
#include "gpu/nbits_matmul.cuh"
#include "test_support.h"

using namespace mixq;
using namespace mixq_gpu_test;

namespace {

/// A core QuantizedMatrix on the device, as the kernels' NBitsMatrix view.
struct DeviceNBits {
    gpu::DeviceBuffer packed, scales, zp;
    gpu::NBitsMatrix m;
    explicit DeviceNBits(const quant::QuantizedMatrix& q)
        : packed(upload_bytes(q.packed)), scales(upload_bytes(q.scale_bytes())),
          zp(q.zero_points.empty() ? gpu::DeviceBuffer() : upload_bytes(q.zero_points)) {
        m.packed = packed.as<uint8_t>();
        m.scales = scales.data();
        m.scale_dt = q.scale_dtype;
        m.zero_points = zp.empty() ? nullptr : zp.as<uint8_t>();
        m.n = q.n;
        m.k = q.k;
        m.bits = q.format.bits;
        m.block_size = q.format.block_size;
    }
};

/// Weights with the awkward blocks fake quantization must get right, row by row.
std::vector<float> tricky_weights(int64_t n, int64_t k, uint32_t seed) {
    auto w = randn(size_t(n * k), seed, 0.05f);
    for (int64_t r = 0; r < n; ++r) {
        float* row = w.data() + r * k;
        switch (r % 6) {
            case 1: std::fill(row, row + std::min<int64_t>(k, 40), 0.0f); break;  // all-zero first block(s)
            case 2: for (int64_t c = 0; c < k; ++c) row[c] = std::fabs(row[c]) + 0.01f; break;  // one-signed, no zero
            case 3: for (int64_t c = 0; c < k; ++c) row[c] = -std::fabs(row[c]); break;
            case 4: for (int64_t c = 0; c < k; ++c) row[c] *= 1e-6f; break;  // F16 scales become subnormal
            case 5: std::fill(row, row + k, 0.37f); break;  // constant
            default: break;
        }
    }
    return w;
}

bool same_value(float a, float b) {
    uint32_t x, y;
    std::memcpy(&x, &a, 4);
    std::memcpy(&y, &b, 4);
    return x == y || (a == 0.0f && b == 0.0f);  // ±0 may differ in all-zero blocks
}

}  // namespace

class TestGpuQuantKernels : public QObject {
    Q_OBJECT

private slots:
    void fakeQuantizeBitwiseEqualsCore() {
        MIXQ_REQUIRE_GPU();
        struct Shape {
            int64_t n, k;
        };
        int checked = 0;
        for (Shape s : {Shape{1, 37}, Shape{13, 1000}, Shape{7, 4097}, Shape{24, 256}})
            for (int bits : {4, 8})
                for (int bs : {16, 32, 64, 128, 256})
                    for (bool sym : {false, true})
                        for (DType sdt : {DType::F16, DType::BF16, DType::F32}) {
                            const auto w = tricky_weights(s.n, s.k, uint32_t(s.k * 31 + bits + bs));
                            quant::QuantFormat f;
                            f.bits = bits;
                            f.block_size = bs;
                            f.symmetric = sym;
                            std::vector<float> ref(w.size());
                            quant::fake_quantize(w.data(), s.n, s.k, f, sdt, ref.data());
                            auto dw = upload(w);
                            gpu::DeviceBuffer dout(w.size() * 4);
                            MIXQ_CUDA_OK(gpu::fake_quantize_rtn(dw.as<float>(), dout.as<float>(), s.n, s.k, bits, bs, sym,
                                                                sdt, nullptr));
                            const auto got = download(dout, w.size());
                            for (size_t i = 0; i < w.size(); ++i)
                                if (!same_value(got[i], ref[i]))
                                    QFAIL(qPrintable(QString("%1 scales %2 shape [%3, %4]: element (%5, %6) got %7 want %8 (w %9)")
                                                         .arg(QString::fromStdString(f.name()), dt_name(sdt)).arg(s.n).arg(s.k)
                                                         .arg(i / s.k).arg(i % s.k).arg(got[i], 0, 'g', 9)
                                                         .arg(ref[i], 0, 'g', 9).arg(w[i], 0, 'g', 9)));
                            ++checked;
                        }
        QCOMPARE(checked, 4 * 2 * 5 * 2 * 3);
        // In place (out == w) gives the same values.
        const auto w = randn(5 * 300, 5);
        quant::QuantFormat f;
        f.bits = 4;
        f.block_size = 32;
        std::vector<float> ref(w.size());
        quant::fake_quantize(w.data(), 5, 300, f, DType::BF16, ref.data());
        auto dw = upload(w);
        MIXQ_CUDA_OK(gpu::fake_quantize_rtn(dw.as<float>(), dw.as<float>(), 5, 300, 4, 32, false, DType::BF16, nullptr));
        const auto got = download(dw, w.size());
        for (size_t i = 0; i < w.size(); ++i) QVERIFY(same_value(got[i], ref[i]));
        QCOMPARE(gpu::fake_quantize_rtn(dw.as<float>(), dw.as<float>(), 5, 300, 3, 32, false, DType::BF16, nullptr),
                 cudaErrorInvalidValue);
        QCOMPARE(gpu::fake_quantize_rtn(dw.as<float>(), dw.as<float>(), 5, 300, 4, 48, false, DType::BF16, nullptr),
                 cudaErrorInvalidValue);
    }

    void nbitsMatmulMatchesDequantReference() {
        MIXQ_REQUIRE_GPU();
        struct Case {
            int m;
            int64_t n, k;
            int bits, bs;
            bool sym;
            DType act, scale, out;
            gpu::NBitsKernel kernel;
            bool bias;
        };
        using K = gpu::NBitsKernel;
        const std::vector<Case> cases = {
            {1, 1, 37, 4, 16, false, DType::F32, DType::F16, DType::F32, K::Auto, false},      // N = 1, 3 blocks of 16
            {1, 67, 300, 4, 32, false, DType::BF16, DType::BF16, DType::BF16, K::Auto, true},  // wide loads, scalar x
            {3, 130, 1000, 8, 128, true, DType::F16, DType::F16, DType::F32, K::Auto, false},  // 8-bit, odd last block
            {4, 64, 4096, 4, 128, true, DType::BF16, DType::BF16, DType::F32, K::Auto, true},  // vector x loads
            {5, 33, 512, 8, 64, false, DType::F32, DType::BF16, DType::F32, K::Gemv, true},    // GEMV in chunks of 4
            {1, 70, 999, 4, 16, false, DType::F16, DType::F32, DType::F16, K::Gemm, false},    // GEMM with one row
            {70, 130, 1000, 4, 32, false, DType::BF16, DType::BF16, DType::BF16, K::Auto, true},  // WMMA tiles, edges
            {65, 64, 4096, 8, 128, true, DType::F16, DType::F16, DType::F32, K::Auto, false},
            {70, 129, 37, 4, 16, false, DType::F32, DType::F16, DType::F32, K::Auto, true},   // fp32 GEMM, K < tile
            {128, 256, 2048, 4, 128, false, DType::F32, DType::BF16, DType::F32, K::Auto, false},
            {200, 96, 1000, 8, 32, true, DType::BF16, DType::BF16, DType::F32, K::Gemm, true},
            {2, 5, 256, 4, 64, false, DType::BF16, DType::F16, DType::F32, K::Auto, true},    // fewer rows than a warp's 4
            {1, 6, 512, 4, 16, false, DType::BF16, DType::BF16, DType::F32, K::Gemv, false},  // 2 blocks per 16-byte load
        };
        for (const auto& c : cases) {
            quant::QuantFormat f;
            f.bits = c.bits;
            f.block_size = c.bs;
            f.symmetric = c.sym;
            const auto w = randn(size_t(c.n * c.k), uint32_t(c.n * 7 + c.k), 0.05f);
            const auto qm = quant::quantize(w.data(), c.n, c.k, f, c.scale);
            const auto wd = quant::dequantize(qm);  // core's dequantized weights
            const auto x = rounded(randn(size_t(c.m) * c.k, uint32_t(c.k + c.m), 1.0f), c.act);
            const auto bias = randn(size_t(c.n), 99, 0.5f);
            auto dx = upload(x, c.act), db = upload(bias);
            gpu::DeviceBuffer dy(size_t(c.m) * c.n * io::dtype_size(c.out));
            const DeviceNBits dw(qm);
            const gpu::NBitsMatrix& nm = dw.m;
            MIXQ_CUDA_OK(gpu::nbits_matmul(dx.data(), c.act, nm, c.bias ? db.as<float>() : nullptr, dy.data(), c.out, c.m,
                                           nullptr, c.kernel));
            const auto y = download(dy, size_t(c.m) * c.n, c.out);
            std::vector<double> ref(y.size()), scale(y.size());
            for (int i = 0; i < c.m; ++i)
                for (int64_t j = 0; j < c.n; ++j) {
                    double acc = c.bias ? bias[j] : 0.0, mag = c.bias ? std::fabs(bias[j]) : 0.0;
                    for (int64_t kk = 0; kk < c.k; ++kk) {
                        acc += double(x[i * c.k + kk]) * wd(j, kk);
                        mag += std::fabs(double(x[i * c.k + kk]) * wd(j, kk));
                    }
                    ref[i * c.n + j] = acc;
                    // fp32 accumulation; the tensor-core GEMM also rounds each dequantized weight to the activation type
                    const bool wmma = c.act != DType::F32 && (c.kernel == K::Gemm || (c.kernel == K::Auto && c.m > 4));
                    scale[i * c.n + j] = mag * (1e-5 + (wmma ? 2 * unit_roundoff(c.act) : 0.0)) +
                                         std::fabs(acc) * 2 * unit_roundoff(c.out);
                }
            size_t at = 0;
            const double worst = worst_ratio(y, ref, 1e-6, 1.0, &scale, &at);
            QVERIFY2(worst <= 1.0, qPrintable(QString("m %1 n %2 k %3 %4 act %5 scales %6 out %7 kernel %8: element %9 got "
                                                      "%10 want %11 (tolerance %12)")
                                                  .arg(c.m).arg(c.n).arg(c.k).arg(QString::fromStdString(f.name()))
                                                  .arg(dt_name(c.act), dt_name(c.scale), dt_name(c.out)).arg(int(c.kernel))
                                                  .arg(at).arg(y[at]).arg(ref[at]).arg(scale[at] + 1e-6)));
        }
    }

    void nbitsDequantizeEqualsCore() {
        MIXQ_REQUIRE_GPU();
        struct Case {
            int64_t n, k;
            int bits, bs;
            bool sym;
            DType scale, out;
        };
        const std::vector<Case> cases = {
            {3, 37, 4, 16, false, DType::F16, DType::F32},  {67, 300, 4, 32, false, DType::BF16, DType::BF16},
            {130, 1000, 8, 128, true, DType::F16, DType::F16}, {64, 4096, 4, 256, true, DType::BF16, DType::F32},
            {33, 512, 8, 64, false, DType::F32, DType::BF16},
        };
        for (const auto& c : cases) {
            quant::QuantFormat f;
            f.bits = c.bits;
            f.block_size = c.bs;
            f.symmetric = c.sym;
            const auto w = randn(size_t(c.n * c.k), uint32_t(c.n * 5 + c.k), 0.05f);
            const auto qm = quant::quantize(w.data(), c.n, c.k, f, c.scale);
            const auto wd = quant::dequantize(qm);  // core: float(q − zp)·scale
            gpu::DeviceBuffer dout(size_t(c.n * c.k) * io::dtype_size(c.out));
            const DeviceNBits dw(qm);
            MIXQ_CUDA_OK(gpu::nbits_dequantize(dw.m, dout.data(), c.out, nullptr));
            const auto got = download(dout, size_t(c.n * c.k), c.out);
            std::vector<float> want(wd.data(), wd.data() + c.n * c.k);
            want = rounded(want, c.out);  // the fp32 product rounded once to the output type
            for (size_t i = 0; i < got.size(); ++i)
                QVERIFY2(got[i] == want[i], qPrintable(QString("%1 n %2 k %3 out %4: element %5 got %6 want %7")
                                                           .arg(QString::fromStdString(f.name())).arg(c.n).arg(c.k)
                                                           .arg(dt_name(c.out)).arg(i).arg(got[i]).arg(want[i])));
        }
    }

    void cublasGemmMatchesDoubleProduct() {
        MIXQ_REQUIRE_GPU();
        gpu::CublasHandle h;
        for (DType t : {DType::F32, DType::BF16, DType::F16})
            for (DType out : {t, DType::F32})
                for (int m : {1, 7, 64}) {
                    const int n = 33, k = 70;
                    const auto x = rounded(randn(size_t(m) * k, 71 + m), t);
                    const auto w = rounded(randn(size_t(n) * k, 72, 0.1f), t);
                    auto dx = upload(x, t), dw = upload(w, t);
                    gpu::DeviceBuffer dy(size_t(m) * n * io::dtype_size(out));
                    gpu::check_cublas(gpu::gemm_wt(h.get(), dx.data(), dw.data(), t, dy.data(), out, m, n, k, nullptr),
                                      "gemm_wt");
                    const auto y = download(dy, size_t(m) * n, out);
                    std::vector<double> ref(y.size()), scale(y.size());
                    for (int i = 0; i < m; ++i)
                        for (int j = 0; j < n; ++j) {
                            double acc = 0, mag = 0;
                            for (int kk = 0; kk < k; ++kk) {
                                acc += double(x[i * k + kk]) * w[j * k + kk];
                                mag += std::fabs(double(x[i * k + kk]) * w[j * k + kk]);
                            }
                            ref[i * n + j] = acc;
                            scale[i * n + j] = mag * 1e-5 + std::fabs(acc) * 2 * unit_roundoff(out);
                        }
                    QVERIFY2(worst_ratio(y, ref, 1e-6, 1.0, &scale) <= 1.0,
                             qPrintable(QString("gemm_wt %1 -> %2, m %3").arg(dt_name(t), dt_name(out)).arg(m)));
                }
        QCOMPARE(gpu::gemm_wt(h.get(), nullptr, nullptr, DType::BF16, nullptr, DType::F16, 1, 1, 1, nullptr),
                 CUBLAS_STATUS_INVALID_VALUE);
    }
};

QTEST_APPLESS_MAIN(TestGpuQuantKernels)
#include "test_quant_kernels.moc"
