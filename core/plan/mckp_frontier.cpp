// SPDX-License-Identifier: MIT
// Exact multiple-choice-knapsack Pareto frontier: per-item dominance pruning, items grouped by identical cost
// vectors, and one pruned two-way merge per undominated option of each item (Nemhauser-Ullmann).
#include "core/plan/mckp_frontier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/common/error.h"

namespace mixq::plan {

namespace {

struct Buffer {
    std::vector<uint64_t> cost;
    std::vector<double> kld;
    std::vector<uint32_t> parent;
    std::vector<uint8_t> option;
    void clear() {
        cost.clear();
        kld.clear();
        parent.clear();
        option.clear();
    }
    void reserve(size_t n) {
        cost.reserve(n);
        kld.reserve(n);
        parent.reserve(n);
        option.reserve(n);
    }
    size_t size() const { return cost.size(); }
    void push(uint64_t c, double d, uint32_t p, uint8_t o) {
        cost.push_back(c);
        kld.push_back(d);
        parent.push_back(p);
        option.push_back(o);
    }
};

struct PrunedItem {
    size_t item = 0;
    std::vector<uint64_t> cost;   ///< ascending
    std::vector<double> kld;      ///< strictly descending
    std::vector<uint8_t> option;  ///< original option index
};

// Merges the Pareto list `acc` with the previous frontier (C, D) shifted by (c, d), keeping only points whose kld
// is strictly below every cheaper-or-equal point. On equal cost the smaller kld comes first, so it wins.
void merge_shifted(const Buffer& acc, const std::vector<uint64_t>& C, const std::vector<double>& D, uint64_t c,
                   double d, uint8_t opt, Buffer& out) {
    out.clear();
    out.reserve(acc.size() + C.size());
    const size_t na = acc.size(), nb = C.size();
    size_t i = 0, t = 0;
    double best = std::numeric_limits<double>::infinity();
    while (i < na && t < nb) {
        const uint64_t cb = C[t] + c;
        const double db = D[t] + d;
        if (acc.cost[i] < cb || (acc.cost[i] == cb && acc.kld[i] <= db)) {
            if (acc.kld[i] < best) {
                best = acc.kld[i];
                out.push(acc.cost[i], best, acc.parent[i], acc.option[i]);
            }
            ++i;
        } else {
            if (db < best) {
                best = db;
                out.push(cb, db, static_cast<uint32_t>(t), opt);
            }
            ++t;
        }
    }
    for (; i < na; ++i)
        if (acc.kld[i] < best) {
            best = acc.kld[i];
            out.push(acc.cost[i], best, acc.parent[i], acc.option[i]);
        }
    for (; t < nb; ++t) {
        const double db = D[t] + d;
        if (db < best) {
            best = db;
            out.push(C[t] + c, db, static_cast<uint32_t>(t), opt);
        }
    }
}

}  // namespace

ParetoFrontier ParetoFrontier::build(const std::vector<std::vector<Choice>>& items, size_t max_entries) {
    ParetoFrontier f;
    f.m_items = items.size();
    f.m_fixed.assign(items.size(), -1);
    uint64_t base_cost = 0;
    double base_kld = 0.0;
    std::vector<PrunedItem> multi;
    for (size_t i = 0; i < items.size(); ++i) {
        const auto& opts = items[i];
        if (opts.empty()) fail("planner", "item " + std::to_string(i) + " has no options");
        if (opts.size() > 255) fail("planner", "item " + std::to_string(i) + " has more than 255 options");
        for (const auto& o : opts)
            if (!std::isfinite(o.kld) || o.kld < 0)
                fail("planner", "item " + std::to_string(i) + " has a KLD that is negative or not finite");
        std::vector<size_t> order(opts.size());
        std::iota(order.begin(), order.end(), size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            if (opts[a].cost != opts[b].cost) return opts[a].cost < opts[b].cost;
            return opts[a].kld < opts[b].kld;
        });
        PrunedItem p;
        p.item = i;
        double best = std::numeric_limits<double>::infinity();
        for (size_t o : order)
            if (opts[o].kld < best) {
                best = opts[o].kld;
                p.cost.push_back(opts[o].cost);
                p.kld.push_back(opts[o].kld);
                p.option.push_back(static_cast<uint8_t>(o));
            }
        if (p.cost.size() == 1) {
            f.m_fixed[i] = p.option[0];
            base_cost += p.cost[0];
            base_kld += p.kld[0];
        } else {
            multi.push_back(std::move(p));
        }
    }
    // Items with identical cost vectors next to each other (same-shape units: their sums collide and prune).
    std::stable_sort(multi.begin(), multi.end(),
                     [](const PrunedItem& a, const PrunedItem& b) { return a.cost < b.cost; });

    std::vector<uint64_t> C{base_cost};
    std::vector<double> D{base_kld};
    Buffer acc, tmp;
    f.m_peak = 1;
    for (const auto& it : multi) {
        acc.clear();
        acc.reserve(C.size() * 2);
        for (size_t t = 0; t < C.size(); ++t) acc.push(C[t] + it.cost[0], D[t] + it.kld[0], uint32_t(t), it.option[0]);
        for (size_t j = 1; j < it.cost.size(); ++j) {
            merge_shifted(acc, C, D, it.cost[j], it.kld[j], it.option[j], tmp);
            std::swap(acc, tmp);
        }
        if (acc.size() > std::numeric_limits<uint32_t>::max())
            fail("planner", "Pareto frontier exceeds 2^32 points");
        f.m_stored += acc.size();
        if (f.m_stored > max_entries)
            fail("planner", "Pareto frontier too large (more than " + std::to_string(max_entries) +
                                " stored entries); reduce the number of candidate formats");
        f.m_peak = std::max(f.m_peak, acc.size());
        Stage s;
        s.item = it.item;
        s.parent = std::move(acc.parent);
        s.option = std::move(acc.option);
        s.parent.shrink_to_fit();
        s.option.shrink_to_fit();
        f.m_stages.push_back(std::move(s));
        C = std::move(acc.cost);
        D = std::move(acc.kld);
        acc = Buffer{};
    }
    f.m_cost = std::move(C);
    f.m_kld = std::move(D);
    f.m_cost.shrink_to_fit();
    f.m_kld.shrink_to_fit();
    return f;
}

size_t ParetoFrontier::best_within(uint64_t max_cost) const {
    const auto it = std::upper_bound(m_cost.begin(), m_cost.end(), max_cost);
    if (it == m_cost.begin()) return npos;
    return static_cast<size_t>(it - m_cost.begin()) - 1;
}

void ParetoFrontier::choices(size_t p, std::vector<int>& out) const {
    if (p >= m_cost.size()) fail("planner", "frontier point " + std::to_string(p) + " out of range");
    out.assign(m_fixed.begin(), m_fixed.end());
    for (size_t s = m_stages.size(); s-- > 0;) {
        const Stage& st = m_stages[s];
        out[st.item] = st.option[p];
        p = st.parent[p];
    }
}

std::vector<int> ParetoFrontier::choices(size_t p) const {
    std::vector<int> out;
    choices(p, out);
    return out;
}

}  // namespace mixq::plan
