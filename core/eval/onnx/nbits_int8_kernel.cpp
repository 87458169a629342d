// SPDX-License-Identifier: MIT
// The int8 MatMulNBits kernel compiled three times (nbits_int8_body.inc), each in its own namespace: AVX512-VNNI
// (256-bit vpdpbusd, 32 registers: larger tiles), AVX-VNNI, and AVX2 (maddubs + madd, exact for 4-bit codes
// only); the CPU's best is picked once at run time. Also the per-call activation quantization the kernels read.
#include "core/eval/onnx/nbits_int8_kernel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/engine/act_quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define MIXQ_INT8_X86 1
#endif

namespace mixq::eval::onnx {
namespace {

#ifdef MIXQ_INT8_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")
namespace avx512vnni {
#define MIXQ_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
#define MIXQ_ROWS_NR 4
#define MIXQ_GEMM_MR 4
#define MIXQ_GEMM_NR 2
#define MIXQ_DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#include "core/eval/onnx/nbits_int8_body.inc"
#undef MIXQ_TARGET
#undef MIXQ_ROWS_NR
#undef MIXQ_GEMM_MR
#undef MIXQ_GEMM_NR
#undef MIXQ_DPBUSD
}  // namespace avx512vnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
namespace avxvnni {
#define MIXQ_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define MIXQ_ROWS_NR 2
#define MIXQ_GEMM_MR 2
#define MIXQ_GEMM_NR 2
#define MIXQ_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#include "core/eval/onnx/nbits_int8_body.inc"
#undef MIXQ_TARGET
#undef MIXQ_ROWS_NR
#undef MIXQ_GEMM_MR
#undef MIXQ_GEMM_NR
#undef MIXQ_DPBUSD
}  // namespace avxvnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define MIXQ_TARGET __attribute__((target("avx2,fma")))
#define MIXQ_ROWS_NR 2
#define MIXQ_GEMM_MR 2
#define MIXQ_GEMM_NR 2
// u ≤ 15 (4-bit codes): maddubs' pair sums stay within int16, so the result is exact.
#define MIXQ_DPBUSD(acc, u, s) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#include "core/eval/onnx/nbits_int8_body.inc"
#undef MIXQ_TARGET
#undef MIXQ_ROWS_NR
#undef MIXQ_GEMM_MR
#undef MIXQ_GEMM_NR
#undef MIXQ_DPBUSD
}  // namespace avx2
#pragma GCC pop_options
#endif

enum class Isa { None, Avx2, AvxVnni, Avx512Vnni };

bool cpu_has(Isa i) {
#ifdef MIXQ_INT8_X86
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (i) {
        case Isa::None: return true;
        case Isa::Avx2: return avx2;
        case Isa::AvxVnni: {
            // CPUID.(EAX=7,ECX=1):EAX bit 4 (clang 14 has no "avxvnni" for __builtin_cpu_supports).
            unsigned a = 0, b = 0, c = 0, d = 0;
            return avx2 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
        }
        case Isa::Avx512Vnni:
            return avx2 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512bw");
    }
#endif
    return i == Isa::None;
}

Isa parse_isa(const std::string& s) {
    if (s == "avx512vnni") return Isa::Avx512Vnni;
    if (s == "avxvnni") return Isa::AvxVnni;
    if (s == "avx2") return Isa::Avx2;
    return Isa::None;
}

/// The best kernel this CPU runs, or MIXQ_NBITS_KERNEL's choice when the CPU runs that one.
Isa detect() {
    if (const char* force = std::getenv("MIXQ_NBITS_KERNEL"); force && *force) {
        const Isa f = parse_isa(force);
        if (cpu_has(f)) return f;
    }
    for (const Isa i : {Isa::Avx512Vnni, Isa::AvxVnni, Isa::Avx2})
        if (cpu_has(i)) return i;
    return Isa::None;
}

std::atomic<Isa>& current() {
    static std::atomic<Isa> v{detect()};
    return v;
}

Isa isa() { return current().load(std::memory_order_relaxed); }

}  // namespace

std::string nbits_int8_kernel_name() {
    switch (isa()) {
        case Isa::Avx512Vnni: return "avx512vnni";
        case Isa::AvxVnni: return "avxvnni";
        case Isa::Avx2: return "avx2";
        case Isa::None: break;
    }
    return "none";
}

bool nbits_int8_use_kernel(const std::string& name) {
    const Isa i = parse_isa(name);
    if ((i == Isa::None && name != "none") || !cpu_has(i)) return false;
    current().store(i);
    return true;
}

bool nbits_int8_gemm_supports(const NBitsMatrix& w) {
    if (w.zp_values || w.block_size % 32 != 0 || (w.bits != 4 && w.bits != 8)) return false;
    const Isa i = isa();
    return i == Isa::Avx512Vnni || i == Isa::AvxVnni || (i == Isa::Avx2 && w.bits == 4);
}

Int8Activations nbits_int8_prepare(const NBitsMatrix& w, const float* a, int64_t M) {
    Int8Activations A;
    A.M = M;
    A.k_blocks = w.k_blocks;
    A.kb8 = (w.k_blocks + 7) / 8 * 8;
    const int64_t kq = w.k_blocks * w.block_size;  // quantized codes per row
    A.kpad = w.bits == 4 ? (kq + 63) / 64 * 64 : kq;
    A.codes.assign(static_cast<size_t>(M * A.kpad), 0);
    A.scales.assign(static_cast<size_t>(M * A.kb8), 0.0f);
    A.sums.assign(static_cast<size_t>(M * A.kb8), 0);
    A.scaled_sums.assign(static_cast<size_t>(M * A.kb8), 0.0f);
    std::vector<int8_t> row(static_cast<size_t>(A.kpad), 0);
    for (int64_t m = 0; m < M; ++m) {
        int8_t* out = A.codes.data() + m * A.kpad;
        float* sc = A.scales.data() + m * A.kb8;
        int32_t* sums = A.sums.data() + m * A.kb8;
        engine::quantize_activation_row(a + m * w.k, w.k, w.block_size, w.bits == 4 ? row.data() : out, sc, sums);
        for (int64_t b = 0; b < A.k_blocks; ++b)
            A.scaled_sums[static_cast<size_t>(m * A.kb8 + b)] = sc[b] * static_cast<float>(sums[b]);
        if (w.bits != 4) continue;
        for (int64_t g = 0; g < A.kpad; g += 64)  // even elements, then odd: a byte's low nibble, then its high one
            for (int64_t i = 0; i < 32; ++i) {
                out[g + i] = row[static_cast<size_t>(g + 2 * i)];
                out[g + 32 + i] = row[static_cast<size_t>(g + 2 * i + 1)];
            }
    }
    return A;
}

void nbits_int8_gemm(const NBitsMatrix& w, const Int8Activations& a, float* y, int64_t ldy, int64_t row0,
                     int64_t row1) {
#ifdef MIXQ_INT8_X86
    switch (isa()) {
        case Isa::Avx512Vnni: return avx512vnni::gemm(w, a, y, ldy, row0, row1);
        case Isa::AvxVnni: return avxvnni::gemm(w, a, y, ldy, row0, row1);
        case Isa::Avx2: return avx2::gemm(w, a, y, ldy, row0, row1);
        case Isa::None: break;
    }
#endif
    (void)w, (void)a, (void)y, (void)ldy, (void)row0, (void)row1;
}

}  // namespace mixq::eval::onnx
