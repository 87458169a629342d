// SPDX-License-Identifier: MIT
// LiveScores: the scores the views show — the last whole score table (shared, immutable) and the units a running
// scorer has streamed in since (they win over the table's until the next whole table replaces them). The
// StudioSession owns one; the heatmap reads and feeds it, so a streamed unit is held once.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/score/score_table.h"

namespace mixq::ui {

class LiveScores {
public:
    std::shared_ptr<const score::ScoreTable> table() const { return m_table; }
    /// A whole table: the streamed units go (the table holds the finished pass).
    void setTable(std::shared_ptr<const score::ScoreTable> table);
    /// One unit from a running scorer (replaces the table's and an earlier streamed version of it).
    void addUnit(const score::UnitScore& unit) { m_streamed[unit.name] = unit; }
    /// Table and streamed units.
    void clear();
    /// The unit's scores: the streamed version when there is one, else the table's; null when unscored.
    const score::UnitScore* find(const std::string& unit) const;
    /// Units with scores (table and streamed, each once).
    int scoredUnitCount() const;
    bool streaming() const { return !m_streamed.empty(); }

private:
    std::shared_ptr<const score::ScoreTable> m_table;
    std::map<std::string, score::UnitScore> m_streamed;
};

}  // namespace mixq::ui
