// SPDX-License-Identifier: MIT
// Per-unit quantization sensitivity: for every unit (QKV group, o, gate|up, down, lm_head, embeddings) and candidate
// format, the mean per-token KL(p_fp ‖ p_quant) with only that unit quantized, and the unit's relative output
// error ‖ΔW·X‖/‖W·X‖ on its calibration inputs. Decoder-layer inputs are cached from one reference pass, so a
// unit's passes start at its own layer; layers are visited in order and each is converted once per visit, with all
// of a layer's variants batched (low_memory streams one layer at a time; offload keeps the cache on disk). The one
// driver of those passes is scoring_driver.h; each backend supplies its building blocks (scoring_engine.h).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/rotation.h"
#include "core/engine/tensor.h"
#include "core/io/model.h"
#include "core/quant/quant_format.h"
#include "core/score/calibration.h"
#include "core/score/memory_mode.h"
#include "core/score/score_table.h"

namespace mixq::score {

struct ScoreOptions {
    std::vector<quant::QuantFormat> candidates = {quant::QuantFormat::parse("int4-g32"),
                                                   quant::QuantFormat::parse("int4-g128"),
                                                   quant::QuantFormat::parse("int8-g128")};
    std::string mode = "exact";  ///< "exact": KL through the whole model; "fast": an estimate (fast_estimator)
    /// Fast mode's estimate: "fisher" (½·Σ F·ΔW² from self-sampled label gradients, fisher_scorer.h) or
    /// "shortcut" (the layer's output change carried unchanged to the final residual stream).
    std::string fast_estimator = "fisher";
    int fisher_samples = 4;  ///< label samples per calibration sequence of the Fisher estimate
    MemoryMode memory = MemoryMode::Auto;
    std::filesystem::path offload_dir;  ///< offload mode: where cached hidden states go (default: system temp)
    std::string rotation = "none";  ///< "none" or "hadamard" (QuaRot-style, untied models; see engine/rotation.h)
    uint64_t rotation_seed = 1;
    /// CPU engine: decoder layers' BF16 / F16 weights are read in place from the mapped file (HalfLinear) by the
    /// reference pass, the propagation and a unit's unmodified neighbours; only the unit under test is widened to
    /// fp32. false: every layer as fp32 copies (the reference the in-place scores are tested against). Without
    /// effect under a rotation, on F32 weights, and for the Fisher estimate (its backward pass needs fp32 layers).
    bool weights_in_place = true;
    int fast_max_sequences = 8;         ///< fast mode scores on the first N calibration sequences
    /// Called on the calling thread as each unit's scores are complete (for live heatmaps).
    std::function<void(const UnitScore&)> on_unit;
    /// Called once the backend has chosen where it scores: device ("cpu" or "cuda"), memory mode name and the
    /// reason line (also logged) — typed, so a UI never parses log text.
    std::function<void(const std::string& device, const std::string& memory_mode, const std::string& reason)> on_placement;
};

/// The default candidate list ("int4-g32,int4-g128,int8-g128") parsed; `method` applies to all of them.
std::vector<quant::QuantFormat> parse_candidates(const std::string& list, quant::Method method);

/// What every scorer (the scoring driver on any backend's ScoringEngine, the Fisher estimate) shares: the checked calibration slice
/// (nseq sequences, `tokens` tokens in all), the scale dtype, the table skeleton (header, units with members,
/// shapes and each candidate's exact storage; scores 0), the units grouped by decoder layer, and the footprint
/// estimate for the memory-mode choice.
struct ScoringSetup {
    int nseq = 0;
    int64_t tokens = 0;
    io::DType scale_dtype = io::DType::BF16;
    ScoreTable table;
    std::map<int, std::vector<size_t>> by_layer;  ///< layer → unit indices
    std::vector<size_t> head_units;              ///< lm_head / embedding units
    int64_t largest_layer_params = 0;
    Footprint footprint;
};
ScoringSetup prepare_scoring(const io::Model& model, const CalibrationSet& calib, const ScoreOptions& opt,
                             const JobContext& job);

/// The Hadamard rotation of opt.rotation (null for "none"), recorded in the table and logged.
std::shared_ptr<const engine::Rotation> make_rotation(std::shared_ptr<const io::Model> model, const ScoreOptions& opt,
                                                      ScoreTable& table, const JobContext& job);

/// Mean of x² per input channel over all rows of all matrices (the k-quant importance weights).
std::vector<float> channel_importance(const std::vector<const engine::RowMatrix*>& xs);

/// Scores every unit of `model` on the CPU: the Fisher estimate (fast mode, fast_estimator "fisher",
/// fisher_scorer.h), else the scoring driver (scoring_driver.h) on CpuScoringEngine. Throws mixq::Cancelled when the job is cancelled (nothing is written by this
/// call; the caller saves the table), mixq::Error on bad input.
ScoreTable score_model(std::shared_ptr<const io::Model> model, const CalibrationSet& calib, const ScoreOptions& opt,
                       const JobContext& job = null_job());

}  // namespace mixq::score
