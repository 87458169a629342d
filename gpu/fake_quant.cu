// SPDX-License-Identifier: MIT
// Fake-quantization kernel: one warp per (row, block). Every rounding step is written with the _rn intrinsics so
// that nvcc cannot contract x·r + zp into an FMA (the CPU rule rounds the product and the sum separately).
#include "gpu/fake_quant.cuh"
#include "gpu/kernel_common.cuh"

namespace mixq::gpu {
using namespace detail;

namespace {

/// float -> bfloat16 -> float, round to nearest even (the integer rule of core/common/half.h).
__device__ __forceinline__ float round_bf16(float f) {
    uint32_t bits = __float_as_uint(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return __uint_as_float(((bits >> 16) | 0x0040u) << 16);
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return __uint_as_float(((bits + rounding) >> 16) << 16);
}

/// float -> IEEE half -> float, round to nearest even with subnormals and overflow to inf (core/common/half.h).
__device__ __forceinline__ float round_f16(float f) {
    const uint32_t x = __float_as_uint(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absx = x & 0x7fffffffu;
    uint32_t h;
    if (absx > 0x7f800000u) h = sign | 0x7e00u;
    else if (absx >= 0x477ff000u) h = sign | 0x7c00u;
    else if (absx < 0x38800000u) {
        if (absx < 0x33000000u) h = sign;
        else {
            const uint32_t exp = absx >> 23;
            const uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
            const uint32_t shift = 126 - exp;
            const uint32_t rem = mant & ((1u << shift) - 1u);
            const uint32_t halfway = 1u << (shift - 1);
            uint32_t result = mant >> shift;
            if (rem > halfway || (rem == halfway && (result & 1u))) ++result;
            h = sign | result;
        }
    } else {
        uint32_t result = (absx - 0x38000000u) >> 13;
        const uint32_t rem = absx & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (result & 1u))) ++result;
        h = sign | result;
    }
    return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
}

__device__ __forceinline__ float round_to(float v, int dt) {
    return dt == static_cast<int>(io::DType::BF16) ? round_bf16(v) : dt == static_cast<int>(io::DType::F16) ? round_f16(v) : v;
}

__global__ void fake_quant_kernel(const float* w, float* out, int64_t n, int64_t k, int64_t kb, int bits, int bs,
                                  bool symmetric, int scale_dt) {
    const int lane = threadIdx.x & 31;
    const int64_t n_items = n * kb;
    const int64_t step = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
    const int kmax = (1 << bits) - 1, kmid = 1 << (bits - 1);
    for (int64_t item = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) >> 5; item < n_items;
         item += step) {
        const int64_t r = item / kb, b = item - (item / kb) * kb;
        const int64_t c0 = b * bs;
        const int len = static_cast<int>(k - c0 < bs ? k - c0 : bs);
        const float* x = w + r * k + c0;
        float* o = out + r * k + c0;
        const float x0 = x[0];
        float lo = x0, hi = x0;
        for (int i = lane; i < len; i += 32) {
            const float v = x[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
#pragma unroll
        for (int s = 16; s > 0; s >>= 1) {
            const float ol = __shfl_xor_sync(0xffffffffu, lo, s), oh = __shfl_xor_sync(0xffffffffu, hi, s);
            lo = ol < lo ? ol : lo;
            hi = oh > hi ? oh : hi;
        }
        float scale;
        int zp;
        if (symmetric) {
            float v = fabsf(hi) > fabsf(lo) ? hi : lo;
            if (lo == 0.0f && hi == 0.0f) v = x0;
            scale = round_to(__fdiv_rn(v, static_cast<float>(-kmid)), scale_dt);
            zp = kmid;
        } else {
            const float mn = 0.0f < lo ? 0.0f : lo;  // std::min(lo, 0.0f)
            const float mx = hi < 0.0f ? 0.0f : hi;  // std::max(hi, 0.0f)
            const float scale_f = __fdiv_rn(__fsub_rn(mx, mn), static_cast<float>(kmax));
            float zp_f = mn;
            if (scale_f != 0.0f) zp_f = __fsub_rn(0.0f, __fdiv_rn(mn, scale_f));
            if (zp_f < 0.0f) zp = 0;
            else if (zp_f > static_cast<float>(kmax)) zp = kmax;
            else zp = static_cast<int>(roundf(zp_f));
            scale = round_to(scale_f, scale_dt);
        }
        const float rcp = scale != 0.0f ? __fdiv_rn(1.0f, scale) : 0.0f;
        const float zpf = static_cast<float>(zp);
        for (int i = lane; i < len; i += 32) {
            float q = roundf(__fadd_rn(__fmul_rn(x[i], rcp), zpf));
            q = q < 0.0f ? 0.0f : (q > static_cast<float>(kmax) ? static_cast<float>(kmax) : q);
            o[i] = __fmul_rn(static_cast<float>(static_cast<int>(q) - zp), scale);
        }
    }
}

}  // namespace

cudaError_t fake_quantize_rtn(const float* w, float* out, int64_t n, int64_t k, int bits, int block_size, bool symmetric,
                              io::DType scale_dt, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (!w || !out || n < 0 || k <= 0 || (bits != 4 && bits != 8) || block_size < 16 || block_size > 256 ||
        (block_size & (block_size - 1)) != 0)
        return cudaErrorInvalidValue;
    const int64_t kb = (k + block_size - 1) / block_size;
    const int threads = 256;
    const int64_t warps = n * kb;
    fake_quant_kernel<<<grid_for(warps * 32, threads), threads, 0, stream>>>(w, out, n, k, kb, bits, block_size, symmetric,
                                                                           static_cast<int>(scale_dt));
    return launch_status();
}

}  // namespace mixq::gpu
