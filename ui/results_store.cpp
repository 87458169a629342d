// SPDX-License-Identifier: MIT
// ResultsStore: JSON (de)serialization of result rows (NaN metrics as null) and the per-model file.
#include "ui/results_store.h"

#include <QDir>
#include <QStandardPaths>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/atomic_file.h"
#include "core/common/error.h"

namespace mixq::ui {

namespace {
constexpr const char* kSchema = "mixq.results/1";
constexpr int kMetrics = static_cast<int>(sizeof(ResultRow{}.metrics) / sizeof(double));

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double number_of(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : ResultRow::kNone; }
}  // namespace

ResultsStore::ResultsStore(QString root) : m_root(std::move(root)) {}

QString ResultsStore::root() const {
    if (!m_root.isEmpty()) return m_root;
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/results";
}

QString ResultsStore::pathFor(const std::string& model_hash) const {
    return root() + "/" + QString::fromStdString(model_hash) + ".json";
}

std::vector<ResultRow> ResultsStore::load(const std::string& model_hash, QString* note) const {
    std::vector<ResultRow> rows;
    const QString path = pathFor(model_hash);
    std::ifstream in(path.toStdString());
    if (!in) return rows;
    try {
        std::stringstream ss;
        ss << in.rdbuf();
        const auto j = nlohmann::json::parse(ss.str());
        if (j.value("schema", std::string()) != kSchema) throw std::runtime_error("not a mixq.results/1 file");
        if (j.value("model_hash", std::string()) != model_hash) throw std::runtime_error("written for another model");
        for (const auto& r : j.at("rows")) {
            ResultRow row;
            row.label = QString::fromStdString(r.at("label").get<std::string>());
            row.kind = QString::fromStdString(r.at("kind").get<std::string>());
            row.avg_bits = number_of(r.at("avg_bits"));
            row.size_bytes = number_of(r.at("size_bytes"));
            const auto& m = r.at("metrics");
            if (!m.is_array() || static_cast<int>(m.size()) != kMetrics)
                throw std::runtime_error("a row needs " + std::to_string(kMetrics) + " metrics");
            for (int i = 0; i < kMetrics; ++i) row.metrics[i] = number_of(m[static_cast<size_t>(i)]);
            if (r.contains("speed_runtime") && r["speed_runtime"].is_string())
                row.speed_runtime = QString::fromStdString(r["speed_runtime"].get<std::string>());
            // n, standard errors and the questions' key: absent in rows written before they were recorded.
            for (const char* key : {"n", "stderr"}) {
                if (!r.contains(key) || !r[key].is_array() || static_cast<int>(r[key].size()) != kMetrics) continue;
                double* out = std::string(key) == "n" ? row.n : row.err;
                for (int i = 0; i < kMetrics; ++i) out[i] = number_of(r[key][static_cast<size_t>(i)]);
            }
            if (r.contains("eval_key") && r["eval_key"].is_string())
                row.eval_key = QString::fromStdString(r["eval_key"].get<std::string>());
            if (r.contains("eval_text") && r["eval_text"].is_string())
                row.eval_text = QString::fromStdString(r["eval_text"].get<std::string>());
            if (r.contains("measured_kld")) row.measured_kld = number_of(r["measured_kld"]);
            if (r.contains("predicted_kld")) row.predicted_kld = number_of(r["predicted_kld"]);
            rows.push_back(row);
        }
    } catch (const std::exception& e) {
        if (note) *note = QString("%1: ignored (%2)").arg(path, QString::fromUtf8(e.what()));
        rows.clear();
    }
    return rows;
}

void ResultsStore::save(const std::string& model_hash, const std::vector<ResultRow>& rows) const {
    const QString path = pathFor(model_hash);
    if (rows.empty()) {
        std::error_code ec;
        std::filesystem::remove(path.toStdString(), ec);
        return;
    }
    if (!QDir().mkpath(root())) fail(root().toStdString(), "cannot create the results folder");
    nlohmann::json j = {{"schema", kSchema}, {"model_hash", model_hash}, {"rows", nlohmann::json::array()}};
    for (const auto& r : rows) {
        nlohmann::json m = nlohmann::json::array(), n = nlohmann::json::array(), e = nlohmann::json::array();
        for (double v : r.metrics) m.push_back(number_or_null(v));
        for (double v : r.n) n.push_back(number_or_null(v));
        for (double v : r.err) e.push_back(number_or_null(v));
        j["rows"].push_back({{"label", r.label.toStdString()},
                             {"kind", r.kind.toStdString()},
                             {"avg_bits", number_or_null(r.avg_bits)},
                             {"size_bytes", number_or_null(r.size_bytes)},
                             {"metrics", m},
                             {"speed_runtime", r.speed_runtime.toStdString()},
                             {"n", n},
                             {"stderr", e},
                             {"eval_key", r.eval_key.toStdString()},
                             {"eval_text", r.eval_text.toStdString()},
                             {"measured_kld", number_or_null(r.measured_kld)},
                             {"predicted_kld", number_or_null(r.predicted_kld)}});
    }
    write_file_atomic(path.toStdString(), j.dump(1) + "\n");
}

}  // namespace mixq::ui
