// SPDX-License-Identifier: MIT
// Preset rules and their format choice.
#include "core/plan/presets.h"

#include <algorithm>

#include "core/common/error.h"

namespace mixq::plan {

const char* preset_name(Preset p) {
    switch (p) {
        case Preset::Rtn: return "rtn";
        case Preset::RtnLast: return "rtn_last";
        case Preset::KQuantLast: return "k_quant_last";
        case Preset::KQuantMixed: return "k_quant_mixed";
    }
    return "?";
}

Preset parse_preset(const std::string& s) {
    for (auto p : {Preset::Rtn, Preset::RtnLast, Preset::KQuantLast, Preset::KQuantMixed})
        if (s == preset_name(p)) return p;
    fail("preset '" + s + "'", "unknown (expected rtn, rtn_last, k_quant_last or k_quant_mixed)");
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

namespace {

quant::Method method_of(Preset p) {
    return (p == Preset::Rtn || p == Preset::RtnLast) ? quant::Method::RTN : quant::Method::KQuant;
}

const quant::QuantFormat* find_candidate(const score::ScoreTable& t, int bits, quant::Method m, int block, int sym) {
    for (const auto& c : t.candidates)
        if (c.bits == bits && c.method == m && (block == 0 || c.block_size == block) &&
            (sym < 0 || c.symmetric == bool(sym)))
            return &c;
    return nullptr;
}

}  // namespace

quant::QuantFormat preset_low_format(Preset p, const score::ScoreTable& table, const PresetOptions& o) {
    const quant::Method m = method_of(p);
    const quant::QuantFormat* c = nullptr;
    if (o.block_size > 0) {
        c = find_candidate(table, 4, m, o.block_size, o.symmetric);
    } else {
        c = find_candidate(table, 4, m, 32, o.symmetric);
        if (!c) c = find_candidate(table, 4, m, 0, o.symmetric);
    }
    if (c) return *c;
    quant::QuantFormat f;
    f.bits = 4;
    f.block_size = o.block_size > 0 ? o.block_size : 32;
    f.symmetric = o.symmetric == 1;
    f.method = m;
    if (f.block_size < 16 || f.block_size > 256 || (f.block_size & (f.block_size - 1)) != 0)
        fail("preset " + std::string(preset_name(p)), "block size must be 16, 32, 64, 128 or 256");
    return f;
}

quant::QuantFormat preset_high_format(Preset p, const score::ScoreTable& table, const PresetOptions& o) {
    const quant::QuantFormat low = preset_low_format(p, table, o);
    const quant::Method m = method_of(p);
    const int sym = o.symmetric;
    if (auto* c = find_candidate(table, 8, m, low.block_size, sym)) return *c;
    if (o.block_size == 0)
        if (auto* c = find_candidate(table, 8, m, 0, sym)) return *c;
    quant::QuantFormat f = low;
    f.bits = 8;
    return f;
}

std::vector<quant::QuantFormat> preset_formats(Preset p, const score::ScoreTable& table, int num_layers,
                                               const PresetOptions& o) {
    const quant::QuantFormat low = preset_low_format(p, table, o);
    const quant::QuantFormat high = preset_high_format(p, table, o);
    int n = num_layers;
    if (n < 0) {
        n = 0;
        for (const auto& u : table.units) n = std::max(n, u.layer + 1);
    }
    std::vector<quant::QuantFormat> out;
    out.reserve(table.units.size());
    for (const auto& u : table.units) {
        bool hi = false;
        if (u.kind == io::UnitKind::LmHead || u.kind == io::UnitKind::TiedEmbedding) hi = p != Preset::Rtn;
        if (p == Preset::KQuantMixed && (u.kind == io::UnitKind::QKV || u.kind == io::UnitKind::Down) && u.layer >= 0)
            hi = use_more_bits(u.layer, n);
        out.push_back(hi ? high : low);
    }
    return out;
}

}  // namespace mixq::plan
