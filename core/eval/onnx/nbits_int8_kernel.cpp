// SPDX-License-Identifier: MIT
// The int8 MatMulNBits kernel compiled three times (nbits_int8_body.inc), each in its own namespace: AVX512-VNNI
// (512-bit vpdpbusd, 32 registers: 6 x 2 tiles), AVX-VNNI and AVX2 (maddubs + madd, exact for 4-bit codes only) on
// 256-bit vectors; the CPU's best is picked once at run time. Also the per-call activation quantization (AVX2).
#include "core/eval/onnx/nbits_int8_kernel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
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
// Common to the 256-bit variants.
#define MIXQ_256_OPS                                                                                         \
    using MIXQ_VI = __m256i;                                                                                 \
    using MIXQ_VF = __m256;
#define MIXQ_LOADI(p) _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
#define MIXQ_SET1_32(x) _mm256_set1_epi32(x)
#define MIXQ_SET1_8(x) _mm256_set1_epi8(x)
#define MIXQ_AND(a, b) _mm256_and_si256(a, b)
#define MIXQ_SRLI16(a, n) _mm256_srli_epi16(a, n)
#define MIXQ_ZEROI() _mm256_setzero_si256()
#define MIXQ_ZEROF() _mm256_setzero_ps()
#define MIXQ_CVT(i) _mm256_cvtepi32_ps(i)
#define MIXQ_ADDI(a, b) _mm256_add_epi32(a, b)
#define MIXQ_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define MIXQ_FMSUB(a, b, c) _mm256_fmsub_ps(a, b, c)
#define MIXQ_FNMADD(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define MIXQ_MUL(a, b) _mm256_mul_ps(a, b)
#define MIXQ_LOADF(p) _mm256_loadu_ps(p)
#define MIXQ_SET1F(x) _mm256_set1_ps(x)
#define MIXQ_STOREF(p, v, n) store8(p, v, n)
#define MIXQ_L 8
#define MIXQ_LOADZP(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))
#define MIXQ_STORE8                                                                                          \
    MIXQ_TARGET __attribute__((always_inline)) static inline void store8(float* p, __m256 v, int64_t n) {    \
        if (n == 8) return _mm256_storeu_ps(p, v);                                                           \
        alignas(32) static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0}; \
        _mm256_maskstore_ps(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - n)), v);     \
    }

#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
namespace avxvnni {
#define MIXQ_TARGET __attribute__((target("avx2,fma,avxvnni")))
MIXQ_256_OPS
MIXQ_STORE8
#define MIXQ_PF_MR 2
#define MIXQ_PF_NR 2
#define MIXQ_DEC_NR 4
#define MIXQ_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#include "core/eval/onnx/nbits_int8_body.inc"
#undef MIXQ_TARGET
#undef MIXQ_PF_MR
#undef MIXQ_PF_NR
#undef MIXQ_DEC_NR
#undef MIXQ_DPBUSD
}  // namespace avxvnni
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define MIXQ_TARGET __attribute__((target("avx2,fma")))
MIXQ_256_OPS
MIXQ_STORE8
#define MIXQ_PF_MR 2
#define MIXQ_PF_NR 2
#define MIXQ_DEC_NR 4
// u ≤ 15 (4-bit codes): maddubs' pair sums stay within int16, so the result is exact.
#define MIXQ_DPBUSD(acc, u, s) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#include "core/eval/onnx/nbits_int8_body.inc"
#undef MIXQ_TARGET
#undef MIXQ_PF_MR
#undef MIXQ_PF_NR
#undef MIXQ_DEC_NR
#undef MIXQ_DPBUSD
}  // namespace avx2
#pragma GCC pop_options
#undef MIXQ_LOADI
#undef MIXQ_SET1_32
#undef MIXQ_SET1_8
#undef MIXQ_AND
#undef MIXQ_SRLI16
#undef MIXQ_ZEROI
#undef MIXQ_ZEROF
#undef MIXQ_CVT
#undef MIXQ_ADDI
#undef MIXQ_FMADD
#undef MIXQ_FMSUB
#undef MIXQ_FNMADD
#undef MIXQ_MUL
#undef MIXQ_LOADF
#undef MIXQ_SET1F
#undef MIXQ_STOREF
#undef MIXQ_L
#undef MIXQ_LOADZP

#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")
// GCC 12 flags the _mm512_undefined_ps() inside _mm512_cvtepi32_ps as maybe-uninitialized (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512vnni {
#define MIXQ_TARGET __attribute__((target("avx2,fma,avx512f,avx512vl,avx512bw,avx512vnni")))
using MIXQ_VI = __m512i;
using MIXQ_VF = __m512;
#define MIXQ_LOADI(p) _mm512_loadu_si512(p)
#define MIXQ_SET1_32(x) _mm512_set1_epi32(x)
#define MIXQ_SET1_8(x) _mm512_set1_epi8(x)
#define MIXQ_AND(a, b) _mm512_and_si512(a, b)
#define MIXQ_SRLI16(a, n) _mm512_srli_epi16(a, n)
#define MIXQ_ZEROI() _mm512_setzero_si512()
#define MIXQ_ZEROF() _mm512_setzero_ps()
#define MIXQ_CVT(i) _mm512_cvtepi32_ps(i)
#define MIXQ_ADDI(a, b) _mm512_add_epi32(a, b)
#define MIXQ_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define MIXQ_FMSUB(a, b, c) _mm512_fmsub_ps(a, b, c)
#define MIXQ_FNMADD(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define MIXQ_MUL(a, b) _mm512_mul_ps(a, b)
#define MIXQ_LOADF(p) _mm512_loadu_ps(p)
#define MIXQ_SET1F(x) _mm512_set1_ps(x)
#define MIXQ_STOREF(p, v, n) _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << (n)) - 1u), v)
#define MIXQ_L 16
#define MIXQ_LOADZP(p) _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))
#define MIXQ_PF_MR 6
#define MIXQ_PF_NR 2
#define MIXQ_DEC_NR 4
#define MIXQ_DPBUSD(acc, u, s) _mm512_dpbusd_epi32(acc, u, s)
#include "core/eval/onnx/nbits_int8_body.inc"
}  // namespace avx512vnni
#pragma GCC diagnostic pop
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
    if (w.zp_values || w.block_size % 16 != 0 || (w.bits != 4 && w.bits != 8)) return false;
    const Isa i = isa();
    return i == Isa::Avx512Vnni || i == Isa::AvxVnni || (i == Isa::Avx2 && w.bits == 4);
}

Int8Activations nbits_int8_prepare(const NBitsMatrix& w, const float* a, int64_t M) {
    Int8Activations A;
    A.M = M;
    A.k_blocks = w.k_blocks;
    A.block_size = w.block_size;
    A.kpad = w.k_blocks * w.block_size;
    A.codes.resize(static_cast<size_t>(M * A.kpad + 64));
    A.scales.resize(static_cast<size_t>(M * A.k_blocks));
    A.zsums.resize(static_cast<size_t>(M * A.k_blocks));
    const float zp_factor = w.zp_packed ? 1.0f : w.zp_default;
    std::vector<float> padded;
    if (A.kpad != w.k) padded.assign(static_cast<size_t>(A.kpad), 0.0f);
    for (int64_t m = 0; m < M; ++m) {
        const float* x = a + m * w.k;
        if (!padded.empty()) {
            std::copy(x, x + w.k, padded.begin());
            x = padded.data();
        }
        int8_t* codes = A.codes.data() + m * A.kpad;
        float* sc = A.scales.data() + m * A.k_blocks;
        float* zs = A.zsums.data() + m * A.k_blocks;
#ifdef MIXQ_INT8_X86
        if (isa() != Isa::None) {
            avx2::quantize_row(x, A.k_blocks, A.block_size, zp_factor, codes, sc, zs);
            continue;
        }
#endif
        std::vector<int32_t> sums(static_cast<size_t>(A.k_blocks));
        engine::quantize_activation_row(x, A.kpad, A.block_size, codes, sc, sums.data());
        for (int64_t b = 0; b < A.k_blocks; ++b) zs[b] = sc[b] * static_cast<float>(sums[static_cast<size_t>(b)]) * zp_factor;
    }
    return A;
}

int64_t nbits_int8_panels_per_task(int64_t M) {
    (void)M;
    return 4;
}

void nbits_int8_gemm(const NBitsPacked& w, const Int8Activations& a, float* y, int64_t ldy, int64_t panel0,
                     int64_t panel1) {
#ifdef MIXQ_INT8_X86
    switch (isa()) {
        case Isa::Avx512Vnni: return avx512vnni::gemm(w, a, y, ldy, panel0, panel1);
        case Isa::AvxVnni: return avxvnni::gemm(w, a, y, ldy, panel0, panel1);
        case Isa::Avx2: return avx2::gemm(w, a, y, ldy, panel0, panel1);
        case Isa::None: break;
    }
#endif
    (void)w, (void)a, (void)y, (void)ldy, (void)panel0, (void)panel1;
}

}  // namespace mixq::eval::onnx
