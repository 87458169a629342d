// SPDX-License-Identifier: MIT
// Helpers of the CUDA tests: the loud skip when no device is present, typed host <-> device copies, dtype rounding
// of host data (so CPU references see exactly the values the kernels read) and tolerance checks.
#pragma once
#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/common/half.h"
#include "core/io/dtype.h"
#include "gpu/cuda_resources.h"
#include "gpu/device_info.h"

/// Skips the current test function, loudly, when no CUDA device can be used (ctest reports it as skipped).
#define MIXQ_REQUIRE_GPU()                                                                       \
    do {                                                                                         \
        std::string why_;                                                                        \
        if (mixq::gpu::list_devices(&why_).empty()) {                                            \
            qWarning("MIXQ-SKIP: no CUDA device (%s); this test needs a GPU", why_.c_str());     \
            QSKIP("MIXQ-SKIP: no CUDA device");                                                  \
        }                                                                                        \
    } while (0)

/// QVERIFY on a cudaError_t.
#define MIXQ_CUDA_OK(expr)                                                                           \
    do {                                                                                             \
        const cudaError_t err_ = (expr);                                                             \
        QVERIFY2(err_ == cudaSuccess, qPrintable(QString("%1 -> %2").arg(#expr, cudaGetErrorName(err_)))); \
    } while (0)

namespace mixq_gpu_test {

using mixq::io::DType;

inline const char* dt_name(DType t) { return mixq::io::dtype_name(t); }

/// Raw bytes of `v` in dtype t (round to nearest even).
inline std::vector<uint8_t> to_bytes(const std::vector<float>& v, DType t) {
    std::vector<uint8_t> b(v.size() * mixq::io::dtype_size(t));
    mixq::io::convert_from_f32(t, v.data(), b.data(), v.size());
    return b;
}
inline std::vector<float> from_bytes(const std::vector<uint8_t>& b, DType t) {
    std::vector<float> v(b.size() / mixq::io::dtype_size(t));
    mixq::io::convert_to_f32(t, b.data(), v.data(), v.size());
    return v;
}
/// v rounded to dtype t and back (what a kernel reading t sees).
inline std::vector<float> rounded(const std::vector<float>& v, DType t) { return from_bytes(to_bytes(v, t), t); }

inline mixq::gpu::DeviceBuffer upload_bytes(const std::vector<uint8_t>& b) {
    mixq::gpu::DeviceBuffer d(b.size());
    d.upload(b.data(), b.size());
    return d;
}
/// v in dtype t on the device.
inline mixq::gpu::DeviceBuffer upload(const std::vector<float>& v, DType t = DType::F32) { return upload_bytes(to_bytes(v, t)); }
inline std::vector<float> download(const mixq::gpu::DeviceBuffer& d, size_t n, DType t = DType::F32) {
    std::vector<uint8_t> b(n * mixq::io::dtype_size(t));
    mixq::gpu::check_cuda(cudaDeviceSynchronize(), "sync");
    d.download(b.data(), b.size());
    return from_bytes(b, t);
}
inline std::vector<float> randn(size_t n, uint32_t seed, float stddev = 1.0f, float mean = 0.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(mean, stddev);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

/// Relative precision of one rounding to t (half an ulp at 1).
inline double unit_roundoff(DType t) {
    switch (t) {
        case DType::F32: return std::ldexp(1.0, -24);
        case DType::F16: return std::ldexp(1.0, -11);
        case DType::BF16: return std::ldexp(1.0, -8);
    }
    return 0;
}

/// Largest |got − ref| / (abs_tol + rel_tol·scale_i) over i; ≤ 1 passes. `scale` defaults to |ref|.
inline double worst_ratio(const std::vector<float>& got, const std::vector<double>& ref, double abs_tol, double rel_tol,
                          const std::vector<double>* scale = nullptr, size_t* where = nullptr) {
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double s = scale ? (*scale)[i] : std::fabs(ref[i]);
        const double r = std::isfinite(got[i]) ? std::fabs(got[i] - ref[i]) / (abs_tol + rel_tol * s) : 1e30;
        if (r > worst) {
            worst = r;
            if (where) *where = i;
        }
    }
    return worst;
}

}  // namespace mixq_gpu_test
