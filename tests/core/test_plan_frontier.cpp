// SPDX-License-Identifier: MIT
// Planner optimality against independent references: brute force over every assignment of small random
// instances (ties, equal costs, dominated options, pins), an exact cost DP on the demo model's unit structure,
// closed-form frontier endpoints, the below-minimum error, and the 200-unit re-plan latency.
#include <QtTest>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/planner.h"
#include "core/plan/synthetic_scores.h"
#include "test_support.h"

using namespace mixq;
using quant::QuantFormat;

namespace {

// Storage of [N, K] in a format, written out from the MatMulNBits layout (independent of QuantFormat).
uint64_t ref_bits(int64_t n, int64_t k, const QuantFormat& f, int scale_bits = 16) {
    if (f.bits >= 16) return uint64_t(n) * uint64_t(k) * 16;
    const int64_t blocks = (k + f.block_size - 1) / f.block_size;
    uint64_t b = uint64_t(n) * blocks * f.block_size * f.bits + uint64_t(n) * blocks * scale_bits;
    if (!f.symmetric) b += uint64_t(n) * ((blocks * f.bits + 7) / 8) * 8;
    return b;
}

struct RefOption {
    QuantFormat f;
    uint64_t cost;
    double kld;
};

// Options per unit as the spec defines them: the table's quantized candidates plus float (KLD 0).
std::vector<std::vector<RefOption>> ref_options(const score::ScoreTable& t) {
    std::vector<std::vector<RefOption>> out;
    for (const auto& u : t.units) {
        std::vector<RefOption> o;
        for (const auto& c : u.candidates) {
            uint64_t cost = 0;
            for (const auto& s : u.shapes) cost += ref_bits(s[0], s[1], c.format, t.scale_bits);
            o.push_back({c.format, cost, c.kld});
        }
        uint64_t cost = 0;
        for (const auto& s : u.shapes) cost += ref_bits(s[0], s[1], QuantFormat::float16());
        o.push_back({QuantFormat::float16(), cost, 0.0});
        out.push_back(o);
    }
    return out;
}

struct Combo {
    uint64_t cost;
    double kld;
};

// Every assignment (units with a fixed choice in `fixed` >= 0 keep it).
std::vector<Combo> enumerate(const std::vector<std::vector<RefOption>>& opts, const std::vector<int>& fixed) {
    std::vector<Combo> all;
    std::vector<int> idx(opts.size(), 0);
    for (size_t u = 0; u < opts.size(); ++u)
        if (fixed[u] >= 0) idx[u] = fixed[u];
    while (true) {
        Combo c{0, 0.0};
        for (size_t u = 0; u < opts.size(); ++u) {
            c.cost += opts[u][idx[u]].cost;
            c.kld += opts[u][idx[u]].kld;
        }
        all.push_back(c);
        size_t u = 0;
        for (; u < opts.size(); ++u) {
            if (fixed[u] >= 0) continue;
            if (++idx[u] < int(opts[u].size())) break;
            idx[u] = 0;
        }
        if (u == opts.size()) break;
    }
    return all;
}

// The Pareto set of all assignments: cost ascending, strictly decreasing KLD.
std::vector<Combo> pareto(std::vector<Combo> all) {
    std::sort(all.begin(), all.end(), [](const Combo& a, const Combo& b) {
        return a.cost != b.cost ? a.cost < b.cost : a.kld < b.kld;
    });
    std::vector<Combo> out;
    for (const auto& c : all)
        if (out.empty() || c.kld < out.back().kld) out.push_back(c);
    return out;
}

uint64_t ref_budget(double avg, int64_t w) { return uint64_t(std::floor((long double)avg * w * (1.0L + 1e-12L))); }

const std::vector<QuantFormat>& format_pool() {
    // int4-g32-sym and int4-g32-sym-kquant cost the same: equal-cost options with different KLDs.
    static const std::vector<QuantFormat> pool = {
        QuantFormat::parse("int4-g32"),        QuantFormat::parse("int4-g128"),
        QuantFormat::parse("int4-g32-sym"),    QuantFormat::parse("int4-g32-sym-kquant"),
        QuantFormat::parse("int8-g128"),       QuantFormat::parse("int8-g32-sym"),
        QuantFormat::parse("int4-g64")};
    return pool;
}

// A small random instance: 6-8 units whose shapes repeat (equal costs), 3-4 candidates, KLDs k/1024 (exact
// sums, many ties; sometimes dominated, i.e. an int8 worse than an int4).
score::ScoreTable random_instance(std::mt19937_64& rng) {
    const std::vector<std::vector<int64_t>> shape_pool = {{64, 128}, {128, 64}, {32, 256}, {96, 160}};
    std::uniform_int_distribution<int> n_units(6, 8), n_cands(3, 4), n_members(1, 3), kld_num(0, 40);
    std::uniform_int_distribution<size_t> pick_shape(0, shape_pool.size() - 1);
    score::ScoreTable t;
    t.model_hash = "random";
    auto pool = format_pool();
    std::shuffle(pool.begin(), pool.end(), rng);
    t.candidates.assign(pool.begin(), pool.begin() + n_cands(rng));
    const int nu = n_units(rng);
    for (int i = 0; i < nu; ++i) {
        score::UnitScore u;
        u.name = "unit" + std::to_string(i);
        u.layer = i;
        const int nm = n_members(rng);
        for (int m = 0; m < nm; ++m) {
            u.members.push_back(u.name + ".m" + std::to_string(m) + ".weight");
            u.shapes.push_back(shape_pool[pick_shape(rng)]);
        }
        for (const auto& f : t.candidates) {
            score::CandidateScore c;
            c.format = f;
            c.kld = kld_num(rng) / 1024.0;
            u.candidates.push_back(c);
        }
        t.units.push_back(u);
    }
    return t;
}

}  // namespace

class TestPlanFrontier : public QObject {
    Q_OBJECT

private slots:
    void frontierEqualsBruteForcePareto() {
        std::mt19937_64 rng(20240501);
        size_t total_points = 0;
        for (int inst = 0; inst < 40; ++inst) {
            const auto t = random_instance(rng);
            const auto opts = ref_options(t);
            const auto ref = pareto(enumerate(opts, std::vector<int>(opts.size(), -1)));
            plan::Planner p(t);
            const auto& f = p.frontier();
            QCOMPARE(f.size(), ref.size());
            int64_t w = 0;
            for (const auto& u : t.units) w += u.numel();
            for (size_t i = 0; i < ref.size(); ++i) {
                QCOMPARE(f[i].total_bits, ref[i].cost);
                QCOMPARE(f[i].predicted_kld, ref[i].kld);  // dyadic KLDs: sums are exact
                QCOMPARE(f[i].avg_bits, double(ref[i].cost) / double(w));
            }
            total_points += ref.size();
        }
        qInfo("40 instances, %zu frontier points compared", total_points);
    }

    void targetsMatchBruteForceOptimum() {
        std::mt19937_64 rng(7);
        int checked = 0;
        for (int inst = 0; inst < 30; ++inst) {
            auto t = random_instance(rng);
            // Real-valued KLDs here: compare optimal values with a tolerance.
            std::uniform_real_distribution<double> kd(0.0, 1.0);
            for (auto& u : t.units)
                for (auto& c : u.candidates) c.kld = kd(rng) * kd(rng);
            const auto opts = ref_options(t);
            const auto all = enumerate(opts, std::vector<int>(opts.size(), -1));
            int64_t w = 0;
            for (const auto& u : t.units) w += u.numel();
            plan::Planner p(t);
            uint64_t min_cost = UINT64_MAX;
            for (const auto& c : all) min_cost = std::min(min_cost, c.cost);
            std::vector<double> targets;
            std::uniform_real_distribution<double> tb(double(min_cost) / w, 16.5);
            for (int k = 0; k < 60; ++k) targets.push_back(tb(rng));
            // Exactly achievable averages (the budget boundary) must be feasible.
            for (int k = 0; k < 20; ++k) targets.push_back(double(all[rng() % all.size()].cost) / double(w));
            for (double target : targets) {
                const uint64_t budget = ref_budget(target, w);
                double best = INFINITY;
                for (const auto& c : all)
                    if (c.cost <= budget) best = std::min(best, c.kld);
                const plan::Plan plan = p.plan_for_target(target);
                // Recompute the plan's cost and KLD from its formats, independently.
                uint64_t cost = 0;
                double kld = 0;
                for (size_t u = 0; u < t.units.size(); ++u) {
                    bool found = false;
                    for (const auto& o : opts[u])
                        if (o.f == plan.units[u].format) {
                            cost += o.cost;
                            kld += o.kld;
                            found = true;
                            break;
                        }
                    QVERIFY(found);
                }
                QVERIFY(cost <= budget);
                QCOMPARE(plan.total_bits, cost);
                QVERIFY2(std::fabs(kld - best) <= 1e-12 * std::max(1.0, best),
                         qPrintable(QString("target %1: planner %2, brute force %3").arg(target).arg(kld).arg(best)));
                QVERIFY(std::fabs(plan.predicted_kld - best) <= 1e-12 * std::max(1.0, best));
                QVERIFY(plan.avg_bits <= target * (1 + 1e-12));
                ++checked;
            }
        }
        qInfo("%d targets checked against brute force", checked);
    }

    void pinsAreRespectedAndOptimal() {
        std::mt19937_64 rng(99);
        for (int inst = 0; inst < 20; ++inst) {
            const auto t = random_instance(rng);
            const auto opts = ref_options(t);
            std::vector<int> fixed(opts.size(), -1);
            std::vector<plan::Pin> pins;
            for (int k = 0; k < 2; ++k) {
                const size_t u = rng() % opts.size();
                if (fixed[u] >= 0) continue;
                fixed[u] = int(rng() % opts[u].size());
                // Alternate unit names and member tensor names.
                pins.push_back({k == 0 ? t.units[u].name : t.units[u].members[0], opts[u][fixed[u]].f});
            }
            plan::PlannerOptions po;
            po.pins = pins;
            plan::Planner p(t, po);
            const auto all = enumerate(opts, fixed);
            const auto ref = pareto(all);
            QCOMPARE(p.frontier().size(), ref.size());
            for (size_t i = 0; i < ref.size(); ++i) {
                QCOMPARE(p.frontier()[i].total_bits, ref[i].cost);
                QCOMPARE(p.frontier()[i].predicted_kld, ref[i].kld);
            }
            int64_t w = 0;
            for (const auto& u : t.units) w += u.numel();
            for (size_t i = 0; i < ref.size(); ++i) {
                const auto plan = p.plan_for_target(double(ref[i].cost) / double(w));
                QCOMPARE(plan.predicted_kld, ref[i].kld);
                for (size_t u = 0; u < opts.size(); ++u)
                    if (fixed[u] >= 0) {
                        QVERIFY(plan.units[u].format == opts[u][fixed[u]].f);
                        QVERIFY(plan.units[u].pinned);
                    }
            }
        }
    }

    void endpointsAndBelowMinimumError() {
        std::mt19937_64 rng(3);
        auto t = random_instance(rng);
        for (auto& u : t.units)
            for (auto& c : u.candidates) c.kld += 1.0 / 1024;  // no lossless candidate: float ends the frontier
        const auto opts = ref_options(t);
        uint64_t min_cost = 0;
        int64_t w = 0;
        for (size_t u = 0; u < opts.size(); ++u) {
            uint64_t m = UINT64_MAX;
            for (const auto& o : opts[u]) m = std::min(m, o.cost);
            min_cost += m;
            w += t.units[u].numel();
        }
        plan::Planner p(t);
        QCOMPARE(p.frontier().front().total_bits, min_cost);
        QCOMPARE(p.max_avg_bits(), 16.0);             // all float
        QCOMPARE(p.frontier().back().predicted_kld, 0.0);
        for (size_t i = 1; i < p.frontier().size(); ++i) {
            QVERIFY(p.frontier()[i].avg_bits > p.frontier()[i - 1].avg_bits);
            QVERIFY(p.frontier()[i].predicted_kld < p.frontier()[i - 1].predicted_kld);
        }
        const double min_avg = double(min_cost) / double(w);
        char expect[64];
        std::snprintf(expect, sizeof expect, "%.4f", std::ceil(min_avg * 1e4) / 1e4);
        try {
            p.plan_for_target(min_avg - 0.01);
            QFAIL("a target below the minimum must throw");
        } catch (const Error& e) {
            const std::string m = e.what();
            QVERIFY2(m.find("below the smallest reachable average, " + std::string(expect)) != std::string::npos, e.what());
            QVERIFY(m.find('\n') == std::string::npos);
        }
        // The printed value is feasible.
        const auto at_min = p.plan_for_target(std::atof(expect));
        QVERIFY(at_min.total_bits >= min_cost && at_min.total_bits <= ref_budget(std::atof(expect), w));
        QVERIFY_THROWS_EXCEPTION(Error, p.plan_for_target(std::nan("")));
        QVERIFY_THROWS_EXCEPTION(Error, p.plan_for_target(-1.0));
        QCOMPARE(p.plan_for_target(100.0).float_units, int(t.units.size()));
    }

    void demoStructureMatchesExactDp() {
        // The demo model's units (QKV, o, gate_up, down x 6 layers + tied embedding) with random dyadic KLDs,
        // against a DP over exact cost (in units of the gcd of all option costs).
        auto model = io::Model::open(mixq_test::demo_model());
        const std::vector<QuantFormat> cands = {QuantFormat::parse("int4-g32"), QuantFormat::parse("int4-g128"),
                                                QuantFormat::parse("int8-g32"), QuantFormat::parse("int4-g64-sym")};
        auto t = plan::synthetic_scores_for_units(model->layout().units, cands, 5);
        std::mt19937_64 rng(11);
        for (auto& u : t.units)
            for (auto& c : u.candidates) c.kld = double(rng() % 4096) / 65536.0;
        QCOMPARE(int(t.units.size()), 6 * 4 + 1);
        const auto opts = ref_options(t);
        uint64_t g = 0, max_cost = 0;
        int64_t w = 0;
        for (size_t u = 0; u < opts.size(); ++u) {
            uint64_t mx = 0;
            for (const auto& o : opts[u]) {
                g = std::gcd(g, o.cost);
                mx = std::max(mx, o.cost);
            }
            max_cost += mx;
            w += t.units[u].numel();
        }
        const size_t S = max_cost / g;
        QVERIFY2(S < 5'000'000, qPrintable(QString("DP too large: %1").arg(S)));
        std::vector<double> dp(S + 1, INFINITY), nx;
        dp[0] = 0;
        for (const auto& uo : opts) {
            nx.assign(S + 1, INFINITY);
            for (size_t s = 0; s <= S; ++s) {
                if (!std::isfinite(dp[s])) continue;
                for (const auto& o : uo) {
                    const size_t s2 = s + o.cost / g;
                    if (s2 <= S) nx[s2] = std::min(nx[s2], dp[s] + o.kld);
                }
            }
            dp.swap(nx);
        }
        // Pareto of the DP: exact cost levels where the minimum KLD strictly drops.
        std::vector<Combo> ref;
        for (size_t s = 0; s <= S; ++s)
            if (std::isfinite(dp[s]) && (ref.empty() || dp[s] < ref.back().kld)) ref.push_back({s * g, dp[s]});
        plan::Planner p(t);
        QCOMPARE(p.frontier().size(), ref.size());
        for (size_t i = 0; i < ref.size(); ++i) {
            QCOMPARE(p.frontier()[i].total_bits, ref[i].cost);
            QCOMPARE(p.frontier()[i].predicted_kld, ref[i].kld);
        }
        // Targets: optimum = min over reachable costs <= budget.
        std::uniform_real_distribution<double> tb(p.min_avg_bits(), 16.0);
        for (int k = 0; k < 300; ++k) {
            const double target = tb(rng);
            const uint64_t budget = ref_budget(target, w);
            double best = INFINITY;
            for (const auto& c : ref)
                if (c.cost <= budget) best = std::min(best, c.kld);
            const auto plan = p.plan_for_target(target);
            QCOMPARE(plan.predicted_kld, best);
            QVERIFY(plan.total_bits <= budget);
        }
        qInfo("demo structure: %zu frontier points, DP over %zu cost levels", ref.size(), S);
    }

    void replanUnderOneMillisecondFor200x4() {
        plan::SyntheticSpec spec;  // 50 layers x (qkv, o, gate_up, down) = 200 units; 3 candidates + float
        spec.seed = 42;
        const auto t = plan::make_synthetic_scores(spec);
        QCOMPARE(int(t.units.size()), 200);
        const auto t0 = std::chrono::steady_clock::now();
        plan::Planner p(t);
        const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::mt19937_64 rng(1);
        std::uniform_real_distribution<double> tb(p.min_avg_bits(), p.max_avg_bits());
        std::vector<double> us;
        double sink = 0;
        for (int r = 0; r < 2000; ++r) {
            const double target = tb(rng);
            const auto a = std::chrono::steady_clock::now();
            const auto plan = p.plan_for_target(target);
            us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
            sink += plan.avg_bits;
            QVERIFY(plan.avg_bits <= target * (1 + 1e-12));
        }
        std::sort(us.begin(), us.end());
        qInfo("200x4: precompute %.1f ms, frontier %zu points, re-plan median %.1f us, p99 %.1f us (sink %g)", build_ms,
              p.frontier().size(), us[us.size() / 2], us[us.size() * 99 / 100], sink);
        QVERIFY2(us[us.size() / 2] < 1000.0, "median re-plan must be under 1 ms");
    }

    void badTablesAndPins() {
        std::mt19937_64 rng(5);
        auto t = random_instance(rng);
        plan::PlannerOptions po;
        po.pins = {{"no.such.unit", QuantFormat::parse("int8-g32")}};
        try {
            plan::Planner p(t, po);
            QFAIL("unknown pin must throw");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("pin 'no.such.unit': no unit or tensor") == 0, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, plan::parse_pin("layers.0.qkv"));
        QVERIFY_THROWS_EXCEPTION(Error, plan::parse_pin("layers.0.qkv=int5-g32"));
        const auto pin = plan::parse_pin("layers.0.qkv=int8-g128-sym");
        QCOMPARE(pin.unit, std::string("layers.0.qkv"));
        QVERIFY(pin.format == QuantFormat::parse("int8-g128-sym"));
        auto bad = t;
        bad.units[0].candidates[0].kld = std::nan("");
        QVERIFY_THROWS_EXCEPTION(Error, plan::Planner{bad});
        bad = t;
        bad.units[1].shapes[0] = {0, 16};
        QVERIFY_THROWS_EXCEPTION(Error, plan::Planner{bad});
        bad = t;
        bad.units.clear();
        QVERIFY_THROWS_EXCEPTION(Error, plan::Planner{bad});
        // set_pins keeps the previous state on error.
        plan::Planner p(t);
        const size_t n = p.frontier().size();
        QVERIFY_THROWS_EXCEPTION(Error, p.set_pins({{"nope", QuantFormat::parse("int8-g32")}}));
        QCOMPARE(p.frontier().size(), n);
        QVERIFY(p.pins().empty());
    }
};

QTEST_APPLESS_MAIN(TestPlanFrontier)
#include "test_plan_frontier.moc"
