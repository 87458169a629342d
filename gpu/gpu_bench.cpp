// SPDX-License-Identifier: MIT
// measure_d2d_bandwidth and measure_gemm_seconds.
#include "gpu/gpu_bench.h"

#include <algorithm>
#include <cstring>

#include "gpu/cuda_resources.h"
#include "gpu/dense_gemm.h"
#include "gpu/nbits_matmul.cuh"

namespace mixq::gpu {

double measure_d2d_bandwidth(size_t bytes, int repeats) {
    DeviceBuffer a(bytes), b(bytes);
    a.zero();
    Stream s;
    Event t0(true), t1(true);
    check_cuda(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s.get()), "d2d warm-up");
    s.synchronize();
    float best = 0.0f;
    for (int i = 0; i < std::max(repeats, 1); ++i) {
        t0.record(s.get());
        check_cuda(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s.get()), "d2d copy");
        t1.record(s.get());
        t1.synchronize();
        const float ms = t1.elapsed_ms_since(t0);
        if (i == 0 || ms < best) best = ms;
    }
    return best > 0.0f ? 2.0 * static_cast<double>(bytes) / (best * 1e-3) : 0.0;
}

double measure_h2d_bandwidth(size_t bytes, int repeats) {
    PinnedBuffer host(bytes);
    std::memset(host.data(), 0, bytes);
    DeviceBuffer dev(bytes);
    Stream s;
    Event t0(true), t1(true);
    check_cuda(cudaMemcpyAsync(dev.data(), host.data(), bytes, cudaMemcpyHostToDevice, s.get()), "h2d warm-up");
    s.synchronize();
    float best = 0.0f;
    for (int i = 0; i < std::max(repeats, 1); ++i) {
        t0.record(s.get());
        check_cuda(cudaMemcpyAsync(dev.data(), host.data(), bytes, cudaMemcpyHostToDevice, s.get()), "h2d copy");
        t1.record(s.get());
        t1.synchronize();
        const float ms = t1.elapsed_ms_since(t0);
        if (i == 0 || ms < best) best = ms;
    }
    return best > 0.0f ? static_cast<double>(bytes) / (best * 1e-3) : 0.0;
}

double measure_gemm_seconds(int m, int n, int k, io::DType dt, int repeats) {
    const size_t es = io::dtype_size(dt);
    DeviceBuffer x(static_cast<size_t>(m) * k * es), w(static_cast<size_t>(n) * k * es),
        y(static_cast<size_t>(m) * n * es);
    x.zero();
    w.zero();
    Stream s;
    CublasHandle h;
    Event t0(true), t1(true);
    check_cublas(gemm_wt(h.get(), x.data(), w.data(), dt, y.data(), dt, m, n, k, s.get()), "gemm warm-up");
    s.synchronize();
    float best = 0.0f;
    for (int i = 0; i < std::max(repeats, 1); ++i) {
        t0.record(s.get());
        check_cublas(gemm_wt(h.get(), x.data(), w.data(), dt, y.data(), dt, m, n, k, s.get()), "gemm");
        t1.record(s.get());
        t1.synchronize();
        const float ms = t1.elapsed_ms_since(t0);
        if (i == 0 || ms < best) best = ms;
    }
    return best * 1e-3;
}

double measure_linear_decode_seconds(int n, int k, const quant::QuantFormat& f, int repeats) {
    constexpr int kBatch = 20;
    DeviceBuffer x(static_cast<size_t>(k) * 2), y(static_cast<size_t>(n) * 2);
    x.zero();
    DeviceBuffer packed, scales, zp, dense;
    NBitsMatrix w;
    if (!f.is_float()) {
        w.n = n;
        w.k = k;
        w.bits = f.bits;
        w.block_size = f.block_size;
        w.scale_dt = io::DType::BF16;
        packed.allocate(static_cast<size_t>(n * w.k_blocks() * w.blob_size()));
        scales.allocate(static_cast<size_t>(n * w.k_blocks()) * 2);
        packed.zero();
        scales.zero();
        if (!f.symmetric) {
            zp.allocate(static_cast<size_t>(n * w.zp_row_bytes()));
            zp.zero();
        }
        w.packed = packed.as<uint8_t>();
        w.scales = scales.data();
        w.zero_points = zp.empty() ? nullptr : zp.as<uint8_t>();
    } else {
        dense.allocate(static_cast<size_t>(n) * k * 2);
        dense.zero();
    }
    Stream s;
    CublasHandle h;
    auto launch = [&] {
        if (f.is_float())
            check_cublas(gemm_wt(h.get(), x.data(), dense.data(), io::DType::BF16, y.data(), io::DType::BF16, 1, n, k,
                                 s.get()),
                         "gemv (cuBLAS)");
        else
            check_cuda(nbits_matmul(x.data(), io::DType::BF16, w, nullptr, y.data(), io::DType::BF16, 1, s.get(),
                                    NBitsKernel::Gemv),
                       "gemv (MatMulNBits)");
    };
    Event t0(true), t1(true);
    launch();
    s.synchronize();
    float best = 0.0f;
    for (int i = 0; i < std::max(repeats, 1); ++i) {
        t0.record(s.get());
        for (int b = 0; b < kBatch; ++b) launch();
        t1.record(s.get());
        t1.synchronize();
        const float ms = t1.elapsed_ms_since(t0);
        if (i == 0 || ms < best) best = ms;
    }
    return best * 1e-3 / kBatch;
}

}  // namespace mixq::gpu
