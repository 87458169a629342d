// SPDX-License-Identifier: MIT
// BaselineExport: a 16-bit plan of the source model exported into a private temporary folder.
#include "core/eval/baseline_export.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/text_file.h"
#include "core/export/exporter.h"
#include "core/io/model.h"
#include "core/plan/plan_weights.h"

namespace mixq::eval {
namespace fs = std::filesystem;

namespace {

/// A new empty folder under the system's temporary directory, owned by this process.
fs::path make_temp_root() {
    std::string tmpl = (fs::temp_directory_path() / "mixq-baseline-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) fail(tmpl, "cannot create a temporary folder for the 16-bit baseline export");
    return tmpl;
}

}  // namespace

BaselineExport::BaselineExport(const fs::path& model_dir, const fs::path& export_dir, const JobContext& job) {
    exporter::ExportOptions opt;
    if (const fs::path p = export_dir / "mixq_plan.json"; fs::exists(p)) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_text_file(p));
        } catch (const std::exception& e) {
            fail(p.string(), std::string("malformed JSON (") + e.what() + ")");
        }
        const auto& e = j.value("export", nlohmann::json::object());
        if (e.contains("target") && e["target"].is_string()) opt.target = exporter::parse_target(e["target"]);
        if (e.contains("qkv") && e["qkv"].is_string()) opt.qkv = exporter::parse_qkv_mode(e["qkv"]);
        if (e.contains("fuse_gate_up") && e["fuse_gate_up"].is_boolean()) opt.fuse_gate_up = e["fuse_gate_up"];
    }
    opt.accuracy_level = exporter::default_accuracy_level(opt.target);  // no MatMulNBits: it does not matter
    opt.check = false;  // written by the same exporter as the file it is compared with; speed only
    m_target = exporter::target_name(opt.target);
    const auto model = io::Model::open(model_dir);
    const plan::Plan plan = plan::make_model_plan(*model, [](const io::QuantUnit&) { return quant::QuantFormat::float16(); });
    m_root = make_temp_root();
    m_dir = m_root / "baseline-16bit";
    job.log("exporting the baseline " + model_dir.string() + " 16-bit (" + m_target + " target) to " + m_dir.string() +
            " to time it in the export's runtime");
    try {
        exporter::export_onnx(*model, plan, m_dir, opt, job);
    } catch (...) {
        std::error_code ec;
        fs::remove_all(m_root, ec);
        throw;
    }
}

BaselineExport::~BaselineExport() {
    std::error_code ec;
    if (!m_root.empty()) fs::remove_all(m_root, ec);
}

}  // namespace mixq::eval
