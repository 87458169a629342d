// SPDX-License-Identifier: MIT
// export_onnx: writes a planned model as an ONNX Runtime GenAI folder — model.onnx (IR 8, ai.onnx 17 +
// com.microsoft 1) with every initializer in model.onnx.data, genai_config.json, the tokenizer files and
// mixq_plan.json — through a temporary folder that is renamed only when complete and checked by onnx::checker.
//
// Weights: a unit the plan quantizes becomes MatMulNBits (its own bits and block size, fp32 scales holding the
// values quant::quantize_rows gives for the model's weight dtype, packed zero points when asymmetric,
// accuracy_level from the options: 4 by default, as the genai builder writes for CPU), so the file dequantizes exactly to plan::apply_plan_fake_quant's weights. A unit kept in 16-bit
// becomes a float32 MatMul on a Cast of its [K, N] initializer stored in the model's 16-bit dtype (BF16/F16: the
// file's values exactly, 16 bits per weight; an F32 model keeps F32); norms, biases and scales are stored the same
// way. ORT folds each Cast into a float32 constant when the session starts, so the CPU graph runs in float32 end to
// end at no per-token cost. Tensors are streamed one at a time from the memory-mapped safetensors, vocabulary-sized ones in row
// chunks, so peak memory stays near the largest tensor in fp32 (only for a 16-bit lm_head, which must be
// transposed) plus a fixed buffer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/io/model.h"
#include "core/plan/plan.h"

namespace mixq::exporter {

enum class QkvMode { Packed, Unpacked };
/// The execution provider the file is built for, as ORT GenAI's builder `-e`: cpu (float32 activations) or
/// cuda / dml (float16 activations end to end, float16 logits; bf16 weights rounded to fp16, nearest even).
enum class Target { Cpu, Cuda, Dml };
const char* target_name(Target t);            ///< "cpu", "cuda", "dml"
Target parse_target(const std::string& s);     ///< throws mixq::Error for other names
/// The builder's MatMulNBits accuracy_level for a target: 4 (int8 activations) on cpu, 0 on cuda / dml.
int default_accuracy_level(Target t);
enum class TiedMode { Auto, On, Off };
const char* qkv_mode_name(QkvMode m);    ///< "packed", "unpacked"
const char* tied_mode_name(TiedMode m);  ///< "auto", "on", "off"
QkvMode parse_qkv_mode(const std::string& s);    ///< throws mixq::Error for other names
TiedMode parse_tied_mode(const std::string& s);  ///< throws mixq::Error for other names

struct ExportOptions {
    Target target = Target::Cpu;
    /// Packed: one MatMulNBits (or MatMul) for q|k|v per layer (legal: the three are one planning unit, one
    /// format). Unpacked: three nodes.
    QkvMode qkv = QkvMode::Packed;
    /// One projection of [2·intermediate, hidden] for gate|up followed by a Split (MixQ's option; the genai
    /// builder keeps them separate).
    bool fuse_gate_up = false;
    /// Auto: share when the model ties them. On: share (an error for an untied model). Off: write the embedding
    /// and the lm_head separately even when tied (the same planned format, stored twice). Shared quantized:
    /// one table used by GatherBlockQuantized (embedding) and MatMulNBits (lm_head); shared 16-bit: one fp32
    /// [vocab, hidden] table used by Gather and by MatMul through a Transpose.
    TiedMode tied = TiedMode::Auto;
    /// Run onnx::checker on the written model before the folder is committed.
    bool check = true;
    /// MatMulNBits accuracy_level (0..4). 4, the genai builder's CPU default, quantizes each node's activations
    /// to int8 blocks and runs int8 dot products (MLAS CompInt8: 30x faster int8 and ~2x faster int4 decode than
    /// level 0); plan::apply_plan_fake_quant with the same level emulates it on the engine.
    int accuracy_level = 4;
    /// "auto": the weights in the plan's rotation (plan::Plan::rotation: rotated and norm-folded as scored, so the
    /// graph is the standard one and its float function the original model's). "none" / "hadamard": the same,
    /// after checking that the plan has that rotation (an error otherwise).
    std::string rotation = "auto";
    /// Names the plan in errors (the plan file's path where there is one).
    std::string plan_label = "plan";
    /// An existing output folder that holds files MixQ did not write is refused unless this is set; then those
    /// files are kept (moved into the new export) and only MixQ's own files are replaced.
    bool overwrite = false;
    /// How the refusal above tells the user to set `overwrite` (the CLI's flag; the app names its check box).
    std::string overwrite_hint = "pass --overwrite";
};

/// Parses an --accuracy-level value: "0".."4"; throws mixq::Error otherwise.
int parse_accuracy_level(const std::string& s);

struct ExportResult {
    std::filesystem::path out_dir;
    std::vector<std::string> files;  ///< file names in the folder
    uint64_t onnx_bytes = 0;         ///< model.onnx
    uint64_t data_bytes = 0;         ///< model.onnx.data (alignment padding included)
    uint64_t padding_bytes = 0;      ///< of which alignment padding
    uint64_t total_bytes = 0;        ///< every file of the folder
    int nodes = 0, initializers = 0;
    int matmul_nbits = 0;        ///< MatMulNBits nodes
    int float_matmuls = 0;       ///< float MatMul nodes for weights
    int gather_block_quantized = 0;
    bool qkv_packed = false, gate_up_fused = false, tied_shared = false;
    int units_not_in_plan = 0;   ///< model units the plan does not list (exported 16-bit)
    double seconds = 0.0;        ///< wall time of the whole export (checker included)
    double check_seconds = 0.0;  ///< of which onnx::checker
    double write_mb_per_s = 0.0; ///< total_bytes / seconds, in MB (1e6 bytes) per second
};

/// The bytes an export of `plan` with `options` will write, exactly: the graph, model.onnx.data (alignment
/// padding included), genai_config.json, mixq_plan.json and the copied tokenizer files. Builds the graph against a
/// counting data writer, so no weight is read or quantized (milliseconds; the budget panel calls it on every move).
struct ExportSize {
    uint64_t onnx_bytes = 0, data_bytes = 0, other_bytes = 0, total_bytes = 0;
};
ExportSize estimate_export_size(const io::Model& model, const plan::Plan& plan, const ExportOptions& options = {});

/// Model::content_hash (cached by the model) computed so that each tensor's mapped pages are dropped as the hash
/// passes them: RSS stays near one hashing chunk instead of the whole file. Cancel through `job`.
std::string hash_model_streaming(const io::Model& model, const JobContext& job = null_job());

/// Exports `model` with `plan` into `out_dir` (replaced atomically when it exists). Checks the plan against the
/// model (hash, tensors, shapes). Progress ("export", tensor name) and cancel (between tensors and row chunks)
/// through `job`; a cancelled or failed export leaves no folder behind. Errors are one line naming the file.
ExportResult export_onnx(const io::Model& model, const plan::Plan& plan, const std::filesystem::path& out_dir,
                         const ExportOptions& options = {}, const JobContext& job = null_job());

}  // namespace mixq::exporter
