// SPDX-License-Identifier: MIT
// The baseline of an export's speed row, in the export's own runtime: the source model exported with every unit
// kept 16-bit, with the export's settings (target, QKV packing, gate|up fusion) read from its mixq_plan.json, into
// a temporary folder removed when the handle goes. Timing that file in the same runtime as the quantized one makes
// the speed ratio compare quantization, not two runtimes.
#pragma once
#include <filesystem>

#include "core/common/job.h"

namespace mixq::eval {

class BaselineExport {
public:
    /// Exports `model_dir` 16-bit like `export_dir` (its mixq_plan.json "export" settings; defaults when absent).
    BaselineExport(const std::filesystem::path& model_dir, const std::filesystem::path& export_dir,
                   const JobContext& job = null_job());
    ~BaselineExport();
    BaselineExport(const BaselineExport&) = delete;
    BaselineExport& operator=(const BaselineExport&) = delete;

    const std::filesystem::path& dir() const { return m_dir; }  ///< the 16-bit export folder
    const std::string& target() const { return m_target; }     ///< "cpu", "cuda" or "dml"

private:
    std::filesystem::path m_root, m_dir;
    std::string m_target;
};

}  // namespace mixq::eval
