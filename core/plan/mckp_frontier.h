// SPDX-License-Identifier: MIT
// ParetoFrontier: the exact Pareto frontier (cost, summed KLD) of a multiple-choice knapsack, built once by
// merging items with dominance pruning (Nemhauser-Ullmann); any budget is then a binary search and the choices
// behind a frontier point are recovered from compact per-item back-pointers in O(items).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mixq::plan {

/// One option of one item: exact integer cost (storage bits) and its loss (KLD, finite, >= 0).
struct Choice {
    uint64_t cost = 0;
    double kld = 0.0;
};

class ParetoFrontier {
public:
    static constexpr size_t npos = static_cast<size_t>(-1);
    /// Default cap on stored back-pointer entries (5 bytes each), so a pathological input fails cleanly.
    static constexpr size_t kDefaultMaxEntries = size_t(300) * 1000 * 1000;

    ParetoFrontier() = default;

    /// Builds the frontier over `items` (each needs >= 1 option; klds finite and >= 0). The result holds every
    /// assignment cost C at which the minimum summed KLD strictly drops: costs strictly increase and klds
    /// strictly decrease along the points, and for every budget B the point with the largest cost <= B is an
    /// optimal assignment for "minimize sum kld s.t. sum cost <= B". Items whose options share one cost vector
    /// are merged next to each other, which keeps the intermediate frontiers small. Throws mixq::Error on bad
    /// input or when the back-pointers would exceed `max_entries`.
    static ParetoFrontier build(const std::vector<std::vector<Choice>>& items, size_t max_entries = kDefaultMaxEntries);

    size_t size() const { return m_cost.size(); }
    size_t item_count() const { return m_items; }
    const std::vector<uint64_t>& costs() const { return m_cost; }
    const std::vector<double>& klds() const { return m_kld; }

    /// Index of the point with the largest cost <= max_cost (the optimum under that budget), or npos.
    size_t best_within(uint64_t max_cost) const;
    /// The option index (into that item's vector as given to build) chosen for each item at point p.
    std::vector<int> choices(size_t p) const;
    void choices(size_t p, std::vector<int>& out) const;

    /// Back-pointer entries kept (sum of intermediate frontier sizes): the memory cost, 5 bytes each.
    size_t stored_entries() const { return m_stored; }
    /// Largest intermediate frontier seen while merging.
    size_t peak_size() const { return m_peak; }

private:
    struct Stage {
        size_t item = 0;                 ///< original item index
        std::vector<uint32_t> parent;    ///< index into the previous stage's frontier
        std::vector<uint8_t> option;     ///< original option index
    };
    size_t m_items = 0;
    std::vector<int> m_fixed;            ///< option of items with a single undominated option, else -1
    std::vector<Stage> m_stages;
    std::vector<uint64_t> m_cost;
    std::vector<double> m_kld;
    size_t m_stored = 0;
    size_t m_peak = 0;
};

}  // namespace mixq::plan
