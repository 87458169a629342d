// SPDX-License-Identifier: MIT
// LiveScores: whole table plus streamed units, streamed first.
#include "ui/live_scores.h"

namespace mixq::ui {

void LiveScores::setTable(std::shared_ptr<const score::ScoreTable> table) {
    m_table = std::move(table);
    m_streamed.clear();
}

void LiveScores::clear() {
    m_table.reset();
    m_streamed.clear();
}

const score::UnitScore* LiveScores::find(const std::string& unit) const {
    auto it = m_streamed.find(unit);
    if (it != m_streamed.end()) return &it->second;
    return m_table ? m_table->find(unit) : nullptr;
}

int LiveScores::scoredUnitCount() const {
    int n = m_table ? static_cast<int>(m_table->units.size()) : 0;
    for (const auto& [name, u] : m_streamed)
        if (!m_table || !m_table->find(name)) ++n;
    return n;
}

}  // namespace mixq::ui
