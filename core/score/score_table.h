// SPDX-License-Identifier: MIT
// ScoreTable: per-unit, per-candidate sensitivity scores (KLD, relative output error, exact storage) and their
// scores.json form (schema in docs/scores-schema.md). Produced by the scorer, read by the planner and the GUI.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/io/model_layout.h"
#include "core/quant/quant_format.h"

namespace mixq::score {

struct CandidateScore {
    quant::QuantFormat format;
    double kld = 0.0;              ///< mean per-token KL(p_fp || p_quant), nats
    double rel_err = 0.0;          ///< ||ΔW·X|| / ||W·X|| on the unit's calibration inputs
    double bits_per_weight = 16;   ///< storage bits / weights, scales and zero points included
    uint64_t bytes = 0;            ///< storage bytes of all members in this format (ceil(bits/8))
};

struct UnitScore {
    std::string name;  ///< "layers.3.qkv", "layers.3.o", "layers.3.gate_up", "layers.3.down", "lm_head", ...
    io::UnitKind kind = io::UnitKind::QKV;
    int layer = -1;
    std::vector<std::string> members;           ///< tensor names
    std::vector<std::vector<int64_t>> shapes;   ///< [N, K] per member
    std::vector<CandidateScore> candidates;     ///< in ScoreTable::candidates order
    int64_t numel() const {
        int64_t n = 0;
        for (const auto& s : shapes) n += s.size() == 2 ? s[0] * s[1] : 0;
        return n;
    }
};

struct ScoreTable {
    std::string model_path;
    std::string model_hash;
    std::vector<quant::QuantFormat> candidates;
    int calib_samples = 0;
    int calib_seq_len = 0;
    std::string calib_source;  ///< "builtin" or a file path
    std::string mode = "exact";  ///< "exact" or "fast"
    std::string memory_mode;
    std::string memory_reason;
    std::string device = "cpu";
    std::string rotation = "none";
    int scale_bits = 16;       ///< bits of one stored scale (the model's float dtype)
    double seconds = 0.0;
    std::vector<UnitScore> units;

    const UnitScore* find(const std::string& unit) const {
        for (const auto& u : units)
            if (u.name == unit) return &u;
        return nullptr;
    }
};

std::string score_table_to_json(const ScoreTable& t);
ScoreTable score_table_from_json(const std::string& text, const std::string& label);
void save_score_table(const ScoreTable& t, const std::filesystem::path& path);  ///< atomic write
ScoreTable load_score_table(const std::filesystem::path& path);

}  // namespace mixq::score
