// SPDX-License-Identifier: MIT
// measure_d2d_bandwidth and measure_gemm_seconds.
#include "gpu/gpu_bench.h"

#include <algorithm>
#include <cstring>

#include "gpu/cuda_resources.h"
#include "gpu/dense_gemm.h"

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

}  // namespace mixq::gpu
