// SPDX-License-Identifier: MIT
// Per-block quantization math: MLAS RTN, the k-quant search, the MLAS code rule and the block error.
#include "core/quant/block_quant.h"

#include <algorithm>
#include <cmath>

#include "core/common/half.h"
#include "core/quant/quant_kernels.h"

namespace mixq::quant {

namespace {

inline float reciprocal(float s) { return s != 0.0f ? 1.0f / s : 0.0f; }

/// Σ w (x − dq)² in double for the codes that (s, zp) produce (w == nullptr: unit weights).
double encode_error(const float* x, const float* w, int len, float s, int zp, int bits) {
    return kernels::weighted_error_f64(x, w, len, s, reciprocal(s), static_cast<float>(zp),
                                       static_cast<float>((1 << bits) - 1));
}

/// The k-quant search state: the best (stored scale, zp) so far and its weighted error (fp32 sums).
struct Search {
    const float* x;
    const float* w;
    int len;
    int bits;
    io::DType dt;
    BlockParams best;
    float best_err;
    BlockParams tried[48];  // parameters already evaluated (candidates often repeat)
    int n_tried = 0;

    int kmax() const { return (1 << bits) - 1; }

    float error_of(float s, int zp) const {
        return kernels::weighted_error(x, w, len, s, reciprocal(s), static_cast<float>(zp),
                                       static_cast<float>(kmax()));
    }

    /// Stores the scale in the dtype, then keeps (s, zp) when it beats the best so far. Returns true if kept.
    bool offer(float s_raw, int zp) {
        if (!std::isfinite(s_raw) || s_raw == 0.0f) return false;
        const float s = round_to_dtype(s_raw, dt);
        if (!std::isfinite(s) || s == 0.0f) return false;
        for (int i = 0; i < n_tried; ++i)
            if (tried[i].scale == s && tried[i].zp == zp) return false;
        if (n_tried < 48) tried[n_tried++] = {s, zp};
        const float e = error_of(s, zp);
        if (e < best_err) {
            best_err = e;
            best = {s, zp};
            return true;
        }
        return false;
    }

    /// A least-squares (scale, min) pair → stored scale and the nearest zero point in [0, kmax].
    bool offer_scale_min(double s, double m) {
        if (!(s > 0) || !std::isfinite(s)) return false;
        const float st = round_to_dtype(static_cast<float>(s), dt);
        if (!(st > 0) || !std::isfinite(st)) return false;
        const double z = std::nearbyint(-m / st);
        const int zp = static_cast<int>(std::clamp(z, 0.0, static_cast<double>(kmax())));
        return offer(st, zp);
    }

    /// Least-squares sums over the codes of the current best: d = q − off.
    void best_code_sums(float off, float& sl, float& sll, float& sxl) const {
        kernels::code_sums(x, w, len, reciprocal(best.scale), static_cast<float>(best.zp), 0.0f,
                           static_cast<float>(kmax()), off, sl, sll, sxl);
    }

    /// Refits the scale alone by weighted least squares on the codes of the current best (zp fixed).
    bool refit_scale() {
        float sl, sll, sxl;
        best_code_sums(static_cast<float>(best.zp), sl, sll, sxl);
        if (!(sll > 0)) return false;
        return offer(sxl / sll, best.zp);
    }

    /// Refits (scale, min) jointly on the codes of the current best, then rounds the zero point.
    bool refit_scale_min(double sw, double sx) {
        float sl, sll, sxl;
        best_code_sums(0.0f, sl, sll, sxl);
        return fit_scale_min(sw, sx, sl, sll, sxl);
    }

    /// Weighted least squares x ≈ s·l + m from the sums; m is kept ≤ 0 (the grid must contain 0).
    bool fit_scale_min(double sw, double sx, double sl, double sll, double sxl) {
        const double D = sw * sll - sl * sl;
        if (!(D > 0)) return false;
        double s = (sw * sxl - sx * sl) / D;
        double m = (sll * sx - sl * sxl) / D;
        if (m > 0) {
            m = 0;
            s = sxl / sll;
        }
        return offer_scale_min(s, m);
    }
};

BlockParams kquant_asymmetric(Search& S) {
    const float km = static_cast<float>(S.kmax());
    float mn, mx;
    kernels::min_max(S.x, S.len, mn, mx);
    mn = std::min(mn, 0.0f);  // the grid always contains 0 (zp in [0, kmax]), so the range does too
    mx = std::max(mx, 0.0f);
    const float range = mx - mn;
    if (!(range > 0)) return S.best;
    double sw = 0, sx = 0;
    for (int i = 0; i < S.len; ++i) {
        sw += S.w[i];
        sx += static_cast<double>(S.w[i]) * S.x[i];
    }
    // Candidate inverse scales (kmax − 1 + 0.2·i)/range, i = 0..10 (make_qkx2_quants' rmin = −1 sweep at half its
    // resolution; the refits below recover the difference): codes l = round(iscale·(x − min)), then a weighted
    // least-squares fit of (scale, min).
    for (int i = 0; i <= 10; ++i) {
        const float iscale = (km - 1.0f + 0.2f * static_cast<float>(i)) / range;
        float sl, sll, sxl;
        kernels::code_sums(S.x, S.w, S.len, iscale, -mn * iscale, 0.0f, km, 0.0f, sl, sll, sxl);
        S.fit_scale_min(sw, sx, sl, sll, sxl);
    }
    for (int it = 0; it < 2; ++it) {
        const bool a = S.refit_scale_min(sw, sx);
        const bool b = S.refit_scale();
        if (!a && !b) break;
    }
    return S.best;
}

BlockParams kquant_symmetric(Search& S) {
    const int kmid = 1 << (S.bits - 1);
    float mn, mx;
    kernels::min_max(S.x, S.len, mn, mx);
    const float vstar = std::fabs(mx) > std::fabs(mn) ? mx : mn;
    if (vstar == 0.0f) return S.best;
    const float lo = static_cast<float>(-kmid), hi = static_cast<float>(kmid - 1);
    // v* maps to −(kmid + δ) (the negative end, as MLAS) or to +(kmid − 1 + δ) (the positive end),
    // δ = 0.2·i, i = −5..5; each candidate's signed codes get a weighted least-squares scale.
    for (int side = 0; side < 2; ++side) {
        for (int i = -5; i <= 5; ++i) {
            const float delta = 0.2f * static_cast<float>(i);
            const float t = side == 0 ? -(static_cast<float>(kmid) + delta) : static_cast<float>(kmid - 1) + delta;
            float sl, sll, sxl;
            kernels::code_sums(S.x, S.w, S.len, t / vstar, 0.0f, lo, hi, 0.0f, sl, sll, sxl);
            if (!(sll > 0)) continue;
            S.offer(sxl / sll, kmid);
        }
    }
    for (int it = 0; it < 3; ++it)
        if (!S.refit_scale()) break;
    return S.best;
}

}  // namespace

float round_to_dtype(float v, io::DType t) {
    switch (t) {
        case io::DType::F32: return v;
        case io::DType::F16: return f16_to_float(float_to_f16(v));
        case io::DType::BF16: return bf16_to_float(float_to_bf16(v));
    }
    return v;
}

BlockParams rtn_params(const BlockInput& in, int bits, bool symmetric, io::DType dt) {
    const int kmax = (1 << bits) - 1;
    const int kmid = 1 << (bits - 1);
    float mn, mx;
    kernels::min_max(in.x, in.len, mn, mx);
    if (symmetric) {
        float v = std::fabs(mx) > std::fabs(mn) ? mx : mn;
        // All-zero block: the MLAS scan (`if (v < min) min = v`) keeps the sign of the first element's zero, and
        // the scale is that zero / −kmid. The sign of a zero extreme matters nowhere else.
        if (mn == 0.0f && mx == 0.0f) v = in.x[0];
        return {round_to_dtype(v / static_cast<float>(-kmid), dt), kmid};
    }
    mn = std::min(mn, 0.0f);
    mx = std::max(mx, 0.0f);
    const float scale_f = (mx - mn) / static_cast<float>(kmax);
    float zp_f = mn;
    if (scale_f != 0.0f) zp_f = 0.0f - mn / scale_f;
    int zp;
    if (zp_f < 0.0f) zp = 0;
    else if (zp_f > static_cast<float>(kmax)) zp = kmax;
    else zp = static_cast<int>(std::roundf(zp_f));
    return {round_to_dtype(scale_f, dt), zp};
}

void kquant_weights(const BlockInput& in, float* out) {
    double ss = 0;
    for (int i = 0; i < in.len; ++i) ss += static_cast<double>(in.x[i]) * in.x[i];
    const float sigma = static_cast<float>(std::sqrt(ss / std::max(in.len, 1)));
    for (int i = 0; i < in.len; ++i) {
        out[i] = sigma + std::fabs(in.x[i]);
        if (in.importance) out[i] *= in.importance[i];
    }
}

BlockParams kquant_params(const BlockInput& in, int bits, bool symmetric, io::DType dt) {
    float w[256];
    const BlockParams rtn = rtn_params(in, bits, symmetric, dt);
    if (in.len > 256 || in.len <= 0) return rtn;
    kquant_weights(in, w);
    const double rtn_err = encode_error(in.x, w, in.len, rtn.scale, rtn.zp, bits);
    if (!(rtn_err > 0)) return rtn;
    Search S{in.x, w, in.len, bits, dt, rtn, 0.0f, {}, 0};
    S.best_err = S.error_of(rtn.scale, rtn.zp);
    S.tried[S.n_tried++] = rtn;
    const BlockParams best = symmetric ? kquant_symmetric(S) : kquant_asymmetric(S);
    if (best.scale == rtn.scale && best.zp == rtn.zp) return rtn;
    // The search compares fp32 sums; the final decision against RTN is made in double, so the result is never
    // worse than RTN under the exact weighted error.
    return encode_error(in.x, w, in.len, best.scale, best.zp, bits) < rtn_err ? best : rtn;
}

void encode_block(const float* x, int len, const BlockParams& p, int bits, uint8_t* codes) {
    kernels::encode(x, len, reciprocal(p.scale), static_cast<float>(p.zp), static_cast<float>((1 << bits) - 1), codes);
}

double block_error(const float* x, const float* w, int len, const BlockParams& p, int bits) {
    return encode_error(x, w, len, p.scale, p.zp, bits);
}

BlockParams block_params(const BlockInput& in, const QuantFormat& f, io::DType dt) {
    return f.method == Method::KQuant ? kquant_params(in, f.bits, f.symmetric, dt)
                                      : rtn_params(in, f.bits, f.symmetric, dt);
}

}  // namespace mixq::quant
