// SPDX-License-Identifier: MIT
// Preset plans as ORT GenAI names them: rtn, rtn_last, k_quant_last, k_quant_mixed (llama.cpp's use_more_bits
// rule in C integer division), as one format per unit, plus the choice of their int4 / int8 formats.
#pragma once
#include <string>
#include <vector>

#include "core/quant/quant_format.h"
#include "core/score/score_table.h"

namespace mixq::plan {

enum class Preset { Rtn, RtnLast, KQuantLast, KQuantMixed };
const char* preset_name(Preset p);  ///< "rtn", "rtn_last", "k_quant_last", "k_quant_mixed"
/// Parses a preset name; throws mixq::Error listing the valid names.
Preset parse_preset(const std::string& s);

struct PresetOptions {
    int block_size = 0;      ///< 0: the table's int4 candidate of the preset's method (block 32 preferred), else 32
    int symmetric = -1;      ///< -1: the chosen table candidate's, else asymmetric; 0 / 1 force it
};

/// llama.cpp's use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, C integer division.
bool use_more_bits(int i, int n);

/// The preset's low (int4) and high (int8) formats for `table`: RTN for rtn*, KQuant for k_quant*. A candidate
/// of the table is preferred (int4: block 32 first, then table order; int8: the int4's block size first), so that
/// its KLD is known; otherwise the format is built (int4-g32 asymmetric; int8 with the int4's block and symmetry).
quant::QuantFormat preset_low_format(Preset p, const score::ScoreTable& table, const PresetOptions& o = {});
quant::QuantFormat preset_high_format(Preset p, const score::ScoreTable& table, const PresetOptions& o = {});

/// One format per unit of `table`, in table order. `num_layers` is the decoder depth n for use_more_bits
/// (-1: 1 + the largest layer index among the units). lm_head, and the tied embedding (which is the lm_head),
/// get int8 in every preset but rtn; k_quant_mixed also gives int8 to the QKV unit (llama.cpp's attn_v: Q, K
/// and V share one format, so the QKV-normalized rule promotes the whole unit) and to ffn_down of each layer i
/// with use_more_bits(i, n). Everything else is int4.
std::vector<quant::QuantFormat> preset_formats(Preset p, const score::ScoreTable& table, int num_layers = -1,
                                               const PresetOptions& o = {});

}  // namespace mixq::plan
