// SPDX-License-Identifier: MIT
// Block-wise weight quantizers against hand-computed MatMulNBits blocks (codes, scales, zero points, packed bytes),
// an independent re-implementation of the MLAS RTN rule, brute-force nearest-code checks, and properties: packed
// round trip, chunking, storage accounting, scale-dtype exactness, k-quant never worse than RTN.
#include <QtTest>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core/common/error.h"
#include "core/common/half.h"
#include "core/quant/quantizer.h"
#include "core/quant/rel_err.h"
#include "test_support.h"

using namespace mixq;
using namespace mixq::quant;

namespace {

QuantFormat fmt(int bits, int bs, bool sym, Method m = Method::RTN) {
    QuantFormat f;
    f.bits = bits;
    f.block_size = bs;
    f.symmetric = sym;
    f.method = m;
    return f;
}

std::vector<float> gaussian(size_t n, unsigned seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

/// Independent MLAS RTN reference (quantization-reference §3.1), written from the spec: returns scale, zp and codes.
struct RefBlock {
    float scale;
    int zp;
    std::vector<int> codes;
};

float ref_round_scale(float v, io::DType dt) {
    if (dt == io::DType::BF16) return bf16_to_float(float_to_bf16(v));
    if (dt == io::DType::F16) return f16_to_float(float_to_f16(v));
    return v;
}

RefBlock ref_rtn(const float* x, int len, int bits, bool sym, io::DType dt) {
    const int kmax = (1 << bits) - 1, kmid = 1 << (bits - 1);
    float lo = x[0], hi = x[0];
    for (int i = 1; i < len; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    RefBlock b;
    if (sym) {
        const float v = std::fabs(hi) > std::fabs(lo) ? hi : lo;
        b.scale = ref_round_scale(v / float(-kmid), dt);
        b.zp = kmid;
    } else {
        lo = std::min(lo, 0.0f);
        hi = std::max(hi, 0.0f);
        const float sf = (hi - lo) / float(kmax);
        const float zf = sf != 0.0f ? -lo / sf : lo;
        b.zp = zf < 0 ? 0 : (zf > kmax ? kmax : int(std::roundf(zf)));
        b.scale = ref_round_scale(sf, dt);
    }
    const float r = b.scale != 0.0f ? 1.0f / b.scale : 0.0f;
    for (int i = 0; i < len; ++i) {
        volatile float v = x[i] * r;  // volatile: no contraction into an FMA in the reference either
        const float t = std::roundf(v + float(b.zp));
        b.codes.push_back(int(std::clamp(t, 0.0f, float(kmax))));
    }
    return b;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

/// (sqrt(mean x²) + |x|)·importance, the documented k-quant element weights, recomputed here in double.
std::vector<double> ref_kquant_weights(const float* x, int len, const float* imp) {
    double ss = 0;
    for (int i = 0; i < len; ++i) ss += double(x[i]) * x[i];
    const double sigma = std::sqrt(ss / len);
    std::vector<double> w(len);
    for (int i = 0; i < len; ++i) w[i] = (sigma + std::fabs(double(x[i]))) * (imp ? imp[i] : 1.0);
    return w;
}

double wsse(const float* x, const float* dq, const double* w, int len) {
    double e = 0;
    for (int i = 0; i < len; ++i) {
        const double d = double(x[i]) - double(dq[i]);
        e += (w ? w[i] : 1.0) * d * d;
    }
    return e;
}

void check_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const char* what) {
    QCOMPARE(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
        QVERIFY2(got[i] == want[i], qPrintable(QString("%1 byte %2: got 0x%3 want 0x%4")
                                                   .arg(what)
                                                   .arg(i)
                                                   .arg(got[i], 2, 16, QChar('0'))
                                                   .arg(want[i], 2, 16, QChar('0'))));
}

}  // namespace

class TestQuant : public QObject {
    Q_OBJECT

private slots:
    // --- Hand-computed 1x16 blocks (values, codes and bytes worked out by hand from §1.4/§1.5/§3.1) ---

    void handAsym4() {
        // min −1.5, max 6 → scale 7.5/15 = 0.5, zp = 1.5/0.5 = 3; q = roundf(2x + 3), ties away from zero:
        // 0.25 → 3.5 → 4, −1.25 → 0.5 → 1, −0.25 → 2.5 → 3 (zp added before rounding), 4.75 → 12.5 → 13.
        const std::vector<float> x = {-1.5f, 6.0f, 0.25f, -1.25f, -0.25f, 0.0f, 1.0f, 2.75f,
                                      -0.75f, 3.3f, 5.9f, 0.1f, -1.4f, 4.75f, 2.0f, 1.2f};
        const int codes[16] = {0, 15, 4, 1, 3, 3, 5, 9, 2, 10, 15, 3, 0, 13, 7, 5};
        const auto q = quantize(x.data(), 1, 16, fmt(4, 16, false), io::DType::F16);
        QCOMPARE(q.k_blocks, int64_t(1));
        QCOMPARE(q.blob_size, int64_t(8));
        QCOMPARE(q.scales.size(), size_t(1));
        QCOMPARE(q.scales[0], 0.5f);
        for (int i = 0; i < 16; ++i) QCOMPARE(q.code(0, i), codes[i]);
        check_bytes(q.packed, {0xF0, 0x14, 0x33, 0x95, 0xA2, 0x3F, 0xD0, 0x57}, "packed");
        check_bytes(q.zero_points, {0x83}, "zp");  // zp 3 in the low nibble, pad nibble 8
        const auto sb = q.scale_bytes();
        check_bytes(sb, {0x00, 0x38}, "f16 scale");  // 0.5 in IEEE half = 0x3800
        std::vector<float> dq(16);
        dequantize(q, dq.data());
        for (int i = 0; i < 16; ++i) QCOMPARE(dq[i], float(codes[i] - 3) * 0.5f);
    }

    void handAsym8() {
        // min −3, max 12.9375 → scale 15.9375/255 = 1/16, zp = 3·16 = 48; q = roundf(16x + 48).
        const std::vector<float> x = {-3.0f, 12.9375f, 0.03125f, -2.96875f, -0.03125f, 1.0f, 5.0f, 0.1f,
                                      -1.0f, 2.5f, 7.77f, -0.7f, 10.03f, 0.0f, -2.5f, 3.14f};
        const std::vector<uint8_t> codes = {0, 255, 49, 1, 48, 64, 128, 50, 32, 88, 172, 37, 208, 48, 8, 98};
        const auto q = quantize(x.data(), 1, 16, fmt(8, 16, false), io::DType::BF16);
        QCOMPARE(q.scales[0], 0.0625f);
        check_bytes(q.packed, codes, "packed");
        check_bytes(q.zero_points, {48}, "zp");
        check_bytes(q.scale_bytes(), {0x80, 0x3D}, "bf16 scale");  // 0.0625 = 0x3D80 in bfloat16
    }

    void handSym4() {
        // v* = 4 (|4| > |−3.75|) → signed scale 4/−8 = −0.5, zp 8; q = roundf(−2x + 8): 0.25 → 7.5 → 8,
        // −0.25 → 8.5 → 9, −1.75 → 11.5 → 12, 2.25 → 3.5 → 4, −3.75 → 15.5 → 16 → clamped to 15.
        const std::vector<float> x = {4.0f, -3.5f, 0.25f, -0.25f, 1.0f, -1.75f, 0.0f, 3.9f,
                                      -0.6f, 2.25f, -3.75f, 0.75f, 1.6f, -2.0f, 3.0f, -1.1f};
        const int codes[16] = {0, 15, 8, 9, 6, 12, 8, 0, 9, 4, 15, 7, 5, 12, 2, 10};
        const auto q = quantize(x.data(), 1, 16, fmt(4, 16, true), io::DType::F16);
        QCOMPARE(q.scales[0], -0.5f);
        QVERIFY(q.zero_points.empty());
        for (int i = 0; i < 16; ++i) QCOMPARE(q.code(0, i), codes[i]);
        check_bytes(q.packed, {0xF0, 0x98, 0xC6, 0x08, 0x49, 0x7F, 0xC5, 0xA2}, "packed");
        check_bytes(q.scale_bytes(), {0x00, 0xB8}, "f16 scale");  // −0.5 = 0xB800
        std::vector<float> dq(16);
        dequantize(q, dq.data());
        QCOMPARE(dq[10], -3.5f);  // the clipped element
        QCOMPARE(dq[0], 4.0f);
    }

    void handSym8() {
        // v* = −8 (|7.99| < |−8|) → scale −8/−128 = 1/16, zp 128; q = roundf(16x + 128); 7.99 → 255.84 → 255.
        const std::vector<float> x = {-8.0f, 7.5f, 0.03125f, -0.03125f, 1.0f, 7.99f, -7.97f, 0.0f,
                                      3.3f, -2.5f, 0.09375f, -0.09375f, 5.0f, 7.96875f, -4.4f, 2.0f};
        const std::vector<uint8_t> codes = {0, 248, 129, 128, 144, 255, 0, 128, 181, 88, 130, 127, 208, 255, 58, 160};
        const auto q = quantize(x.data(), 1, 16, fmt(8, 16, true), io::DType::F32);
        QCOMPARE(q.scales[0], 0.0625f);
        check_bytes(q.packed, codes, "packed");
        QVERIFY(q.zero_points.empty());
        check_bytes(q.scale_bytes(), {0x00, 0x00, 0x80, 0x3D}, "f32 scale");
    }

    void handStoredScaleReciprocal() {
        // Non-negative block, max 1: scale_f = 1/15, stored in bf16 as 137/2048 = 0.06689453125 (rounds up);
        // zp = 0. Codes use 1/stored = 14.948905: 0.5 → 7.474 → 7 (the unrounded scale would give 7.5 → 8).
        const std::vector<float> x = {1.0f, 0.5f, 0.53f, 0.9f, 0.2f, 0.033f, 0.034f, 0.0f,
                                      0.25f, 0.75f, 0.1f, 0.6f, 0.45f, 0.3f, 0.8f, 0.95f};
        const int codes[16] = {15, 7, 8, 13, 3, 0, 1, 0, 4, 11, 1, 9, 7, 4, 12, 14};
        const auto q = quantize(x.data(), 1, 16, fmt(4, 16, false), io::DType::BF16);
        QCOMPARE(q.scales[0], 0.06689453125f);
        QCOMPARE(q.zero_point(0, 0), 0);
        for (int i = 0; i < 16; ++i) QCOMPARE(q.code(0, i), codes[i]);
        std::vector<float> dq(16);
        dequantize(q, dq.data());
        QCOMPARE(dq[0], 1.00341796875f);  // 15·137/2048
    }

    void handPaddedLastBlockAndZpPadNibble() {
        // K = 40, block 16 → 3 blocks, the last with 8 real elements; zp bytes [zp0|zp1<<4, zp2|8<<4].
        std::vector<float> x = {-1.5f, 6.0f, 0.25f, -1.25f, -0.25f, 0.0f, 1.0f, 2.75f,  // block 0: scale .5, zp 3
                                -0.75f, 3.3f, 5.9f, 0.1f, -1.4f, 4.75f, 2.0f, 1.2f};
        // block 1: all ≥ 0, max 7.5 → scale 0.5, zp 0, q = roundf(2x).
        const float b1[16] = {7.5f, 0.0f, 0.25f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 0.75f, 1.25f, 2.5f, 3.5f, 4.5f, 5.5f};
        // block 2 (8 real elements): all ≤ 0, min −7.5 → scale 0.5, zp 15, q = roundf(2x + 15).
        const float b2[8] = {-7.5f, -0.5f, -1.0f, -0.25f, -3.0f, -6.0f, -2.25f, -0.75f};
        x.insert(x.end(), b1, b1 + 16);
        x.insert(x.end(), b2, b2 + 8);
        const auto q = quantize(x.data(), 1, 40, fmt(4, 16, false), io::DType::F16);
        QCOMPARE(q.k_blocks, int64_t(3));
        QCOMPARE(q.packed.size(), size_t(24));
        check_bytes(q.packed,
                    {0xF0, 0x14, 0x33, 0x95, 0xA2, 0x3F, 0xD0, 0x57,   // block 0
                     0x0F, 0x21, 0x64, 0xA8, 0xEC, 0x32, 0x75, 0xB9,   // block 1: codes 15,0,1,2,4,6,8,10,12,14,2,3,5,7,9,11
                     0xE0, 0xFD, 0x39, 0xEB, 0x00, 0x00, 0x00, 0x00},  // block 2: codes 0,14,13,15,9,3,11,14 + padding 0
                    "packed");
        check_bytes(q.zero_points, {0x03, 0x8F}, "zp");
        QCOMPARE(q.scales[1], 0.5f);
        QCOMPARE(q.scales[2], 0.5f);
        // 8-bit: the padding bytes of the last blob are 0 as well.
        const auto q8 = quantize(x.data(), 1, 40, fmt(8, 16, false), io::DType::F16);
        for (int j = 8; j < 16; ++j) QCOMPARE(int(q8.packed[32 + j]), 0);
        QCOMPARE(q8.zero_points.size(), size_t(3));
    }

    void codesRoundProductAndSumSeparately() {
        // MLAS computes roundf(fl(fl(x·r) + zp)): the product and the sum are rounded separately. Find elements
        // where a fused multiply-add would give a different code, put them inside a block, and check the codes.
        std::vector<float> x = {-0.3f, 0.9f};
        const RefBlock base = ref_rtn(x.data(), 2, 4, false, io::DType::F32);
        const float r = 1.0f / base.scale;
        const float zp = float(base.zp);
        QVERIFY(base.zp != 0);
        std::vector<float> tricky;
        for (int k = 1; k < 13 && tricky.size() < 14; ++k) {
            float v = (float(k) + 0.5f - zp) / r;
            for (int step = 0; step < 4000 && tricky.size() < 14; ++step) {
                v = std::nextafter(v, step < 2000 ? -1.0f : 1.0f);
                if (step == 2000) v = (float(k) + 0.5f - zp) / r;
                volatile float p = v * r;
                const float sep = std::roundf(p + zp);
                const float fused = std::roundf(std::fma(v, r, zp));
                if (sep != fused && v > -0.3f && v < 0.9f) tricky.push_back(v);
            }
        }
        qInfo("%zu elements where a fused multiply-add changes the code", tricky.size());
        QVERIFY(!tricky.empty());
        // 23 elements in one block of 32: 16 go through the 8-wide path, the last 7 through the scalar tail.
        for (size_t i = 0; x.size() < 23; ++i) x.push_back(tricky[i % tricky.size()]);
        const RefBlock ref = ref_rtn(x.data(), 23, 4, false, io::DType::F32);
        QVERIFY(same_bits(ref.scale, base.scale));
        const auto q = quantize(x.data(), 1, 23, fmt(4, 32, false), io::DType::F32);
        int fused_differs = 0;
        for (int i = 0; i < 23; ++i) {
            QCOMPARE(q.code(0, i), ref.codes[i]);
            fused_differs += int(std::roundf(std::fma(x[i], r, zp))) != ref.codes[i];
        }
        QVERIFY(fused_differs >= 10);
        std::vector<float> fq(23);
        fake_quantize(x.data(), 1, 23, fmt(4, 32, false), io::DType::F32, fq.data());
        for (int i = 0; i < 23; ++i) QCOMPARE(fq[i], float(ref.codes[i] - ref.zp) * ref.scale);
    }

    void symmetricTiesAndZeroBlocks() {
        // |max| == |min| → v* = min (−4) → scale −4/−8 = +0.5; 4 → 8 + 8 = 16 → clamped 15.
        std::vector<float> x(16, 0.0f);
        x[3] = -4.0f;
        x[7] = 4.0f;
        auto q = quantize(x.data(), 1, 16, fmt(4, 16, true), io::DType::F16);
        QCOMPARE(q.scales[0], 0.5f);
        QCOMPARE(q.code(0, 3), 0);
        QCOMPARE(q.code(0, 7), 15);
        QCOMPARE(q.code(0, 0), 8);
        // All-zero block: symmetric scale −0 with codes 8; asymmetric scale 0, zp 0, codes 0; dequant exactly 0.
        std::vector<float> z(32, 0.0f);
        for (bool sym : {true, false})
            for (Method m : {Method::RTN, Method::KQuant}) {
                q = quantize(z.data(), 1, 32, fmt(4, 32, sym, m), io::DType::BF16);
                QCOMPARE(q.scales[0], 0.0f);
                QCOMPARE(std::signbit(q.scales[0]), sym);
                QCOMPARE(q.code(0, 5), sym ? 8 : 0);
                QCOMPARE(q.zero_point(0, 0), sym ? 8 : 0);
                std::vector<float> dq(32, 1.0f);
                dequantize(q, dq.data());
                for (float v : dq) QCOMPARE(v, 0.0f);
            }
    }

    // --- MLAS RTN on random data: independent reference, error bound, nearest code ---

    void rtnMatchesReference() {
        for (int bits : {4, 8})
            for (bool sym : {false, true})
                for (int bs : {16, 32, 64, 128, 256})
                    for (io::DType dt : {io::DType::F32, io::DType::F16, io::DType::BF16}) {
                        const int64_t n = 3, k = 517;
                        auto w = gaussian(n * k, 11u + bs + bits, 0.02f);
                        w[5] = 0.3f;  // an outlier
                        const auto q = quantize(w.data(), n, k, fmt(bits, bs, sym), dt);
                        for (int64_t r = 0; r < n; ++r)
                            for (int64_t b = 0; b < q.k_blocks; ++b) {
                                const int len = int(std::min<int64_t>(bs, k - b * bs));
                                const RefBlock ref = ref_rtn(w.data() + r * k + b * bs, len, bits, sym, dt);
                                QVERIFY(same_bits(q.scales[r * q.k_blocks + b], ref.scale));
                                QCOMPARE(q.zero_point(r, b), ref.zp);
                                for (int j = 0; j < len; ++j) QCOMPARE(q.code(r, b * bs + j), ref.codes[j]);
                            }
                    }
    }

    void rtnErrorBoundAndNearestCode() {
        int64_t checked = 0, in_range = 0;
        for (int bits : {4, 8})
            for (bool sym : {false, true})
                for (int bs : {16, 32, 64, 128, 256})
                    for (io::DType dt : {io::DType::F32, io::DType::BF16}) {
                        const int64_t n = 4, k = 1000;
                        const auto w = gaussian(n * k, 7u * bs + bits, 1.0f);
                        std::vector<float> dq(n * k);
                        fake_quantize(w.data(), n, k, fmt(bits, bs, sym), dt, dq.data());
                        const auto q = quantize(w.data(), n, k, fmt(bits, bs, sym), dt);
                        const int kmax = (1 << bits) - 1;
                        for (int64_t r = 0; r < n; ++r)
                            for (int64_t c = 0; c < k; ++c) {
                                const int64_t b = c / bs;
                                const double s = q.scales[r * q.k_blocks + b];
                                const int zp = q.zero_point(r, b);
                                const double x = w[r * k + c];
                                const double err = std::fabs(x - dq[r * k + c]);
                                // Brute force: no code is more than a rounding hair closer than the chosen one.
                                double best = 1e300;
                                for (int cand = 0; cand <= kmax; ++cand)
                                    best = std::min(best, std::fabs(x - (cand - zp) * s));
                                // fp32 rounding of x·(1/s) + zp moves u by at most a few ulps of kmax + 1
                                const double tol = 1e-6 * (kmax + 1) * std::fabs(s);
                                QVERIFY2(err <= best + tol,
                                         qPrintable(QString("r%1 c%2: err %3 best %4").arg(r).arg(c).arg(err).arg(best)));
                                const double u = x / s + zp;
                                ++checked;
                                if (u >= -0.5 && u <= kmax + 0.5) {
                                    ++in_range;
                                    QVERIFY2(err <= std::fabs(s) / 2 + tol,
                                             qPrintable(QString("err %1 > |s|/2 = %2").arg(err).arg(std::fabs(s) / 2)));
                                }
                            }
                    }
        // Only symmetric blocks clip (the smaller-|·| side gets 2^(bits−1) − 1 codes) and bf16 scales that round
        // down: the vast majority of elements must be in range.
        qInfo("%lld of %lld elements inside the representable range", (long long)in_range, (long long)checked);
        QVERIFY(in_range > checked * 95 / 100);
    }

    // --- Packed round trip, odd K, all block sizes / bit widths / methods ---

    void packedRoundTripEqualsFakeQuant() {
        for (int64_t k : {93, 1234, 16, 255})
            for (int64_t n : {1, 3})
                for (int bits : {4, 8})
                    for (bool sym : {false, true})
                        for (Method m : {Method::RTN, Method::KQuant})
                            for (int bs : {16, 32, 64, 128, 256}) {
                                const auto f = fmt(bits, bs, sym, m);
                                const auto w = gaussian(n * k, unsigned(k * 31 + bs + bits), 0.05f);
                                const auto q = quantize(w.data(), n, k, f, io::DType::BF16);
                                QCOMPARE(q.packed.size(), size_t(n * ((k + bs - 1) / bs) * bs * bits / 8));
                                std::vector<float> dq(n * k, -1.0f), fq(n * k, -2.0f);
                                dequantize(q, dq.data());
                                fake_quantize(w.data(), n, k, f, io::DType::BF16, fq.data());
                                for (int64_t i = 0; i < n * k; ++i)
                                    QVERIFY2(same_bits(dq[i], fq[i]),
                                             qPrintable(QString::fromStdString(f.name() + " k=" + std::to_string(k) + " i=" + std::to_string(i))));
                                // and both equal (code − zp)·scale read element by element
                                for (int64_t r = 0; r < n; ++r)
                                    for (int64_t c = 0; c < k; c += 7) {
                                        const float s = q.scales[r * q.k_blocks + c / bs];
                                        QVERIFY(same_bits(dq[r * k + c], float(q.code(r, c) - q.zero_point(r, c / bs)) * s));
                                    }
                                // dequantize_rows of a middle row equals the full result
                                if (n == 3) {
                                    std::vector<float> row(k);
                                    dequantize_rows(q, 1, 1, row.data());
                                    QVERIFY(std::memcmp(row.data(), dq.data() + k, k * 4) == 0);
                                }
                            }
    }

    // --- k-quant ---

    void kquantNeverWorseThanRtnPerBlock() {
        double sum_rtn = 0, sum_kq = 0, plain_rtn = 0, plain_kq = 0;
        int64_t blocks = 0, improved = 0;
        for (int bits : {4, 8})
            for (bool sym : {false, true})
                for (int bs : {16, 32, 128})
                    for (bool use_imp : {false, true}) {
                        const int64_t n = 16, k = 515;  // odd K: a short last block
                        const auto w = gaussian(n * k, unsigned(bits * 100 + bs + sym + 3 * use_imp), 0.03f);
                        std::vector<float> imp(k);
                        std::mt19937 rng(5);
                        std::exponential_distribution<float> ex(1.0f);
                        for (auto& v : imp) v = ex(rng);
                        const float* ip = use_imp ? imp.data() : nullptr;
                        std::vector<float> dr(n * k), dk(n * k);
                        fake_quantize(w.data(), n, k, fmt(bits, bs, sym, Method::RTN), io::DType::F16, dr.data());
                        fake_quantize(w.data(), n, k, fmt(bits, bs, sym, Method::KQuant), io::DType::F16, dk.data(), ip);
                        for (int64_t r = 0; r < n; ++r)
                            for (int64_t c0 = 0; c0 < k; c0 += bs) {
                                const int len = int(std::min<int64_t>(bs, k - c0));
                                const float* x = w.data() + r * k + c0;
                                const auto wt = ref_kquant_weights(x, len, ip ? ip + c0 : nullptr);
                                const double er = wsse(x, dr.data() + r * k + c0, wt.data(), len);
                                const double ek = wsse(x, dk.data() + r * k + c0, wt.data(), len);
                                // the code keeps its weights in fp32; 1e-6 covers that rounding of the weights
                                QVERIFY2(ek <= er * (1 + 1e-6) + 1e-30,
                                         qPrintable(QString("bits %1 bs %2 sym %3 row %4 block %5: kquant %6 > rtn %7")
                                                        .arg(bits).arg(bs).arg(sym).arg(r).arg(c0 / bs).arg(ek).arg(er)));
                                ++blocks;
                                if (ek < er * (1 - 1e-6)) ++improved;
                                if (bits == 4) {
                                    sum_rtn += er;
                                    sum_kq += ek;
                                    plain_rtn += wsse(x, dr.data() + r * k + c0, nullptr, len);
                                    plain_kq += wsse(x, dk.data() + r * k + c0, nullptr, len);
                                }
                            }
                    }
        qInfo("k-quant vs RTN (4-bit, Gaussian): weighted SSE ratio %.3f, plain SSE ratio %.3f, %lld/%lld blocks improved",
              sum_kq / sum_rtn, plain_kq / plain_rtn, (long long)improved, (long long)blocks);
        QVERIFY(sum_kq < 0.9 * sum_rtn);
        QVERIFY(plain_kq < 0.95 * plain_rtn);
        QVERIFY(improved > blocks / 2);
    }

    void importanceLowersWeightedError() {
        const int64_t n = 64, k = 512;
        const auto w = gaussian(n * k, 99u, 0.02f);
        std::vector<float> imp(k);
        std::mt19937 rng(3);
        std::lognormal_distribution<float> ln(0.0f, 1.5f);
        for (auto& v : imp) v = ln(rng);
        for (int bits : {4, 8})
            for (bool sym : {false, true}) {
                const auto f = fmt(bits, 32, sym, Method::KQuant);
                std::vector<float> d0(n * k), d1(n * k);
                fake_quantize(w.data(), n, k, f, io::DType::F16, d0.data());
                fake_quantize(w.data(), n, k, f, io::DType::F16, d1.data(), imp.data());
                double e0 = 0, e1 = 0, p0 = 0, p1 = 0;
                for (int64_t i = 0; i < n * k; ++i) {
                    const double a = double(w[i]) - d0[i], b = double(w[i]) - d1[i];
                    e0 += imp[i % k] * a * a;
                    e1 += imp[i % k] * b * b;
                    p0 += a * a;
                    p1 += b * b;
                }
                qInfo("%s: importance-weighted SSE %.4g -> %.4g (plain SSE %.4g -> %.4g)", f.name().c_str(), e0, e1, p0, p1);
                QVERIFY(e1 < 0.97 * e0);
            }
        // RTN ignores importance.
        std::vector<float> a(n * k), b(n * k);
        fake_quantize(w.data(), n, k, fmt(4, 32, false), io::DType::F16, a.data());
        fake_quantize(w.data(), n, k, fmt(4, 32, false), io::DType::F16, b.data(), imp.data());
        QVERIFY(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    }

    // --- chunking, storage, dtype ---

    void chunkedEqualsWhole() {
        const int64_t n = 37, k = 300;
        const auto w = gaussian(n * k, 1234u, 0.1f);
        std::vector<float> imp(k);
        for (int64_t c = 0; c < k; ++c) imp[c] = 0.5f + float(c % 7);
        for (const auto& f : {fmt(4, 32, false, Method::KQuant), fmt(4, 64, true, Method::RTN),
                              fmt(8, 128, false, Method::RTN), fmt(8, 16, true, Method::KQuant)}) {
            const auto whole = quantize(w.data(), n, k, f, io::DType::BF16, imp.data());
            auto chunked = make_quantized_matrix(n, k, f, io::DType::BF16);
            // chunks of 5 rows in reverse order: order must not matter
            for (int64_t r0 = (n - 1) / 5 * 5; r0 >= 0; r0 -= 5) {
                const int64_t rows = std::min<int64_t>(5, n - r0);
                std::vector<float> chunk(w.begin() + r0 * k, w.begin() + (r0 + rows) * k);  // only this chunk in memory
                quantize_rows(chunk.data(), r0, rows, chunked, imp.data());
            }
            QVERIFY(whole.packed == chunked.packed);
            QVERIFY(whole.zero_points == chunked.zero_points);
            QCOMPARE(whole.scales.size(), chunked.scales.size());
            QVERIFY(std::memcmp(whole.scales.data(), chunked.scales.data(), whole.scales.size() * 4) == 0);
            // chunked dequantization
            std::vector<float> all(n * k), part(7 * k);
            dequantize(whole, all.data());
            dequantize_rows(chunked, 30, 7, part.data());
            QVERIFY(std::memcmp(all.data() + 30 * k, part.data(), part.size() * 4) == 0);
        }
    }

    void cancellableFakeQuantize() {
        // With a token, rows go in chunks of ~2^20 weights; the result must be bitwise the unchunked one.
        const int64_t n = 700, k = 4096;  // 2.9M weights: 3 chunks of 256 rows
        const auto w = gaussian(n * k, 77u, 0.05f);
        CancelToken token;
        for (const auto& f : {fmt(4, 32, false, Method::KQuant), fmt(8, 128, true, Method::RTN)}) {
            std::vector<float> whole(n * k), chunked(n * k);
            fake_quantize(w.data(), n, k, f, io::DType::BF16, whole.data());
            fake_quantize(w.data(), n, k, f, io::DType::BF16, chunked.data(), nullptr, &token);
            QVERIFY(std::memcmp(whole.data(), chunked.data(), whole.size() * 4) == 0);
        }
        // A cancelled token stops it with mixq::Cancelled (never reported as an error).
        token.cancel();
        std::vector<float> out(n * k);
        bool cancelled = false;
        try {
            fake_quantize(w.data(), n, k, fmt(4, 32, false, Method::KQuant), io::DType::BF16, out.data(), nullptr, &token);
        } catch (const Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        // Cancel from another thread while a k-quant search of 16.8M weights runs (~0.45 s per thread in Release):
        // it stops within one chunk.
        const int64_t big_n = 4096;
        const auto big = gaussian(big_n * k, 78u, 0.05f);
        std::vector<float> big_out(big_n * k);
        CancelToken live;
        std::atomic<int64_t> cancel_ns{0};
        std::thread canceller([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            cancel_ns = std::chrono::steady_clock::now().time_since_epoch().count();
            live.cancel();
        });
        cancelled = false;
        try {
            fake_quantize(big.data(), big_n, k, fmt(4, 32, false, Method::KQuant), io::DType::BF16, big_out.data(), nullptr,
                          &live);
        } catch (const Cancelled&) {
            cancelled = true;
        }
        const int64_t done_ns = std::chrono::steady_clock::now().time_since_epoch().count();
        canceller.join();
        QVERIFY(cancelled);
        const double latency = double(done_ns - cancel_ns.load()) / 1e9;
        qInfo("fake_quantize stopped %.3f s after cancel", latency);
        QVERIFY2(latency < 0.5, qPrintable(QString::number(latency)));
    }

    void storageAccounting() {
        for (int64_t n : {1, 2, 7, 64})
            for (int64_t k : {1, 15, 16, 17, 93, 100, 256, 1234, 4096})
                for (int bits : {4, 8})
                    for (int bs : {16, 32, 64, 128, 256})
                        for (bool sym : {false, true})
                            for (io::DType dt : {io::DType::F16, io::DType::F32}) {
                                const auto f = fmt(bits, bs, sym);
                                const auto q = make_quantized_matrix(n, k, f, dt);
                                const int64_t kb = (k + bs - 1) / bs;
                                const uint64_t sbytes = io::dtype_size(dt);
                                // independent byte count: blobs + scales + per-row packed zero points
                                const uint64_t want = uint64_t(n * kb * bs * bits / 8) + uint64_t(n * kb) * sbytes +
                                                      (sym ? 0 : uint64_t(n * ((kb * bits + 7) / 8)));
                                QCOMPARE(q.storage_bytes(), want);
                                QCOMPARE(q.storage_bytes() * 8, f.storage_bits(n, k, int(8 * sbytes)));
                            }
        // and after an actual quantization (buffers keep their sizes)
        const auto w = gaussian(5 * 93, 1u);
        const auto q = quantize(w.data(), 5, 93, fmt(4, 32, false, Method::KQuant), io::DType::BF16);
        QCOMPARE(q.storage_bytes() * 8, q.format.storage_bits(5, 93, 16));
        QCOMPARE(q.scale_bytes().size(), size_t(5 * 3 * 2));
    }

    void scalesExactInDtype() {
        const int64_t n = 8, k = 333;
        const auto w = gaussian(n * k, 77u, 0.7f);
        for (io::DType dt : {io::DType::BF16, io::DType::F16})
            for (bool sym : {false, true})
                for (Method m : {Method::RTN, Method::KQuant}) {
                    const auto f = fmt(4, 32, sym, m);
                    const auto q = quantize(w.data(), n, k, f, dt);
                    const auto raw = q.scale_bytes();
                    for (size_t i = 0; i < q.scales.size(); ++i) {
                        uint16_t h;
                        std::memcpy(&h, raw.data() + 2 * i, 2);
                        const float back = dt == io::DType::BF16 ? bf16_to_float(h) : f16_to_float(h);
                        QVERIFY(same_bits(back, q.scales[i]));
                    }
                    std::vector<float> dq(n * k);
                    dequantize(q, dq.data());
                    for (int64_t r = 0; r < n; ++r)
                        for (int64_t c = 0; c < k; ++c) {
                            uint16_t h;
                            std::memcpy(&h, raw.data() + 2 * (r * q.k_blocks + c / 32), 2);
                            const float s = dt == io::DType::BF16 ? bf16_to_float(h) : f16_to_float(h);
                            // (q − zp)·s with a 16-bit s is exact in fp32: compare in double
                            const double want = double(q.code(r, c) - q.zero_point(r, c / 32)) * double(s);
                            QCOMPARE(double(dq[r * k + c]), want);
                        }
                }
        // bf16 and f32 scales give different scales (the rounding is really applied)
        const auto a = quantize(w.data(), n, k, fmt(4, 32, false), io::DType::BF16);
        const auto b = quantize(w.data(), n, k, fmt(4, 32, false), io::DType::F32);
        int differ = 0;
        for (size_t i = 0; i < a.scales.size(); ++i) differ += a.scales[i] != b.scales[i];
        QVERIFY(differ > int(a.scales.size()) / 2);
    }

    void badInputsThrow() {
        std::vector<float> w(64, 0.5f);
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(3, 32, false), io::DType::F16));
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(4, 48, false), io::DType::F16));
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(4, 512, false), io::DType::F16));
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 0, fmt(4, 32, false), io::DType::F16));
        w[40] = std::nanf("");
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(4, 32, false), io::DType::F16));
        w[40] = 1e30f;  // scale 1e30/15 overflows fp16
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(4, 32, false), io::DType::F16));
        w[40] = 0.25f;
        std::vector<float> imp(64, 1.0f);
        imp[3] = -1.0f;
        QVERIFY_THROWS_EXCEPTION(Error, quantize(w.data(), 1, 64, fmt(4, 32, false, Method::KQuant), io::DType::F16, imp.data()));
        auto q = make_quantized_matrix(4, 64, fmt(4, 32, false), io::DType::F16);
        QVERIFY_THROWS_EXCEPTION(Error, quantize_rows(w.data(), 4, 1, q));
    }

    // --- relative output error ---

    void relErrClosedFormAndBruteForce() {
        const int n = 12, k = 40, t = 9;
        engine::RowMatrix w(n, k), x(t, k);
        const auto wv = gaussian(n * k, 1u), xv = gaussian(t * k, 2u);
        std::memcpy(w.data(), wv.data(), wv.size() * 4);
        std::memcpy(x.data(), xv.data(), xv.size() * 4);
        // Wq = 0.75·W: ΔW = 0.25·W, so the ratio is exactly 0.25 for any X.
        const engine::RowMatrix wq = w * 0.75f;
        QVERIFY(std::fabs(rel_err(w, wq, x) - 0.25) < 1e-6);
        // brute force in double against a real quantization
        const engine::RowMatrix fq = fake_quantize(w, fmt(4, 16, false), io::DType::F16);
        double num = 0, den = 0;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < t; ++j) {
                double a = 0, b = 0;
                for (int c = 0; c < k; ++c) {
                    a += (double(w(i, c)) - fq(i, c)) * x(j, c);
                    b += double(w(i, c)) * x(j, c);
                }
                num += a * a;
                den += b * b;
            }
        const double want = std::sqrt(num / den);
        QVERIFY(std::fabs(rel_err(w, fq, x) - want) < 1e-5 * want);
        QVERIFY(std::fabs(rel_err_gram(w, fq, gram(x)) - want) < 1e-4 * want);
        QCOMPARE(rel_err(w, w, x), 0.0);
        QVERIFY_THROWS_EXCEPTION(Error, rel_err(w, fq, engine::RowMatrix(t, k + 1)));
    }
};

QTEST_APPLESS_MAIN(TestQuant)
#include "test_quant.moc"
