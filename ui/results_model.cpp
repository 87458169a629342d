// SPDX-License-Identifier: MIT
// ResultsModel: the evaluated rows of the open model, baselines first, one baseline per question set.
#include "ui/results_model.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace mixq::ui {

double ResultRow::kldRatio() const {
    if (std::isnan(measured_kld) || std::isnan(predicted_kld) || !(predicted_kld > 0)) return kNone;
    return measured_kld / predicted_kld;
}

ResultsModel::ResultsModel(QObject* parent) : QObject(parent) { setObjectName("resultsModel"); }

void ResultsModel::insert(const ResultRow& row) {
    if (row.kind != "baseline") {
        m_rows.push_back(row);
        return;
    }
    auto same = std::find_if(m_rows.begin(), m_rows.end(),
                             [&](const ResultRow& r) { return r.kind == "baseline" && r.eval_key == row.eval_key; });
    if (same != m_rows.end()) {
        *same = row;
        return;
    }
    auto after = std::find_if(m_rows.begin(), m_rows.end(), [](const ResultRow& r) { return r.kind != "baseline"; });
    m_rows.insert(after, row);
}

void ResultsModel::add(const ResultRow& row) {
    insert(row);
    emit changed();
}

void ResultsModel::remove(QList<int> rows) {
    std::sort(rows.begin(), rows.end(), std::greater<int>());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    bool any = false;
    for (int r : rows)
        if (r >= 0 && r < size()) {
            m_rows.erase(m_rows.begin() + r);
            any = true;
        }
    if (any) emit changed();
}

void ResultsModel::clear() {
    m_rows.clear();
    emit changed();
}

void ResultsModel::setRows(const std::vector<ResultRow>& rows) {
    m_rows.clear();
    for (const auto& r : rows) insert(r);
    emit changed();
}

const ResultRow* ResultsModel::baselineFor(const ResultRow& row) const {
    for (const auto& r : m_rows)
        if (r.kind == "baseline" && r.eval_key == row.eval_key) return &r;
    return nullptr;
}

}  // namespace mixq::ui
