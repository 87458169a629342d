// SPDX-License-Identifier: MIT
// ResultsStore: the results panel's rows kept per model content hash under
// QStandardPaths::AppDataLocation/results/<hash>.json (schema "mixq.results/1", written atomically), so evaluations
// of a model's exports and plans are still there when the model is opened again.
#pragma once
#include <QString>
#include <string>
#include <vector>

#include "ui/results_model.h"

namespace mixq::ui {

class ResultsStore {
public:
    /// `root` "" = <AppDataLocation>/results.
    explicit ResultsStore(QString root = {});
    void setRoot(const QString& root) { m_root = root; }
    QString root() const;
    QString pathFor(const std::string& model_hash) const;

    /// The stored rows of this model; empty when there are none or the file is unusable (then `note`, when given,
    /// says why, naming the file).
    std::vector<ResultRow> load(const std::string& model_hash, QString* note = nullptr) const;
    /// Writes the rows atomically (no rows: removes the file). Throws mixq::Error on I/O failure.
    void save(const std::string& model_hash, const std::vector<ResultRow>& rows) const;

private:
    QString m_root;
};

}  // namespace mixq::ui
