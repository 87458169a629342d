// SPDX-License-Identifier: MIT
// `mixq bench-plan`: planner benchmark on a synthetic score table (default 50 layers x 4 units = 200 units,
// 3 scored candidates + float = 4 options each): frontier precompute time and size, and re-plan latency
// (plan_for_target and the cheap formats_at lookup) over random targets.
#include <cstdint>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/plan/planner.h"
#include "core/plan/synthetic_scores.h"

namespace mixq::cli {
namespace {

struct Stats {
    double mean = 0, median = 0, p99 = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    for (double x : v) s.mean += x;
    s.mean /= double(v.size());
    s.median = v[v.size() / 2];
    s.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
    s.max = v.back();
    return s;
}

std::vector<quant::QuantFormat> parse_formats(const std::string& list) {
    std::vector<quant::QuantFormat> out;
    size_t i = 0;
    while (i <= list.size()) {
        size_t j = list.find(',', i);
        if (j == std::string::npos) j = list.size();
        out.push_back(quant::QuantFormat::parse(list.substr(i, j - i)));
        i = j + 1;
    }
    return out;
}

int run_bench_plan(const Args& args) {
    args.allow_only({"--layers", "--candidates", "--distinct-shapes", "--seed", "--repeats", "--builds", "--json"});
    using clock = std::chrono::steady_clock;
    plan::SyntheticSpec spec;
    spec.layers = int(args.get_int("--layers", 50, 1, 2000));
    if (spec.layers < 1 || spec.layers > 2000) usage_fail("--layers must be 1..2000");
    spec.distinct_shapes = args.has("--distinct-shapes");
    spec.seed = uint64_t(args.get_int("--seed", 1, 0, INT64_MAX));
    spec.candidates = parse_formats(args.get_or("--candidates", "int4-g128,int4-g32,int8-g128"));
    const int repeats = int(args.get_int("--repeats", 5000, 1, 1000000000));
    const int builds = int(args.get_int("--builds", 3, 1, 1000000));
    if (repeats < 1 || builds < 1) usage_fail("--repeats and --builds must be >= 1");
    const score::ScoreTable table = plan::make_synthetic_scores(spec);

    std::vector<double> build_ms;
    std::unique_ptr<plan::Planner> planner;
    for (int b = 0; b < builds; ++b) {
        const auto t0 = clock::now();
        planner = std::make_unique<plan::Planner>(table);
        build_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    std::mt19937_64 rng(spec.seed + 7);
    std::uniform_real_distribution<double> target(planner->min_avg_bits(), planner->max_avg_bits());
    std::vector<double> plan_us, lookup_us;
    double sink = 0;
    for (int r = 0; r < repeats; ++r) {
        const double t = target(rng);
        auto t0 = clock::now();
        const plan::Plan p = planner->plan_for_target(t);
        auto t1 = clock::now();
        const auto f = planner->formats_at(planner->frontier_index(t));
        auto t2 = clock::now();
        sink += p.avg_bits + f.size();
        plan_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        lookup_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    }
    const Stats ps = stats_of(plan_us), ls = stats_of(lookup_us), bs = stats_of(build_ms);
    const size_t options = planner->table().candidates.size() + 1;
    if (args.has("--json")) {
        nlohmann::ordered_json j;
        j["units"] = table.units.size();
        j["options_per_unit"] = options;
        j["distinct_shapes"] = spec.distinct_shapes;
        j["frontier_points"] = planner->frontier().size();
        j["stored_entries"] = planner->pareto().stored_entries();
        j["precompute_ms"] = {{"median", bs.median}, {"min", *std::min_element(build_ms.begin(), build_ms.end())}};
        j["plan_for_target_us"] = {{"mean", ps.mean}, {"median", ps.median}, {"p99", ps.p99}, {"max", ps.max}};
        j["formats_at_us"] = {{"mean", ls.mean}, {"median", ls.median}, {"p99", ls.p99}, {"max", ls.max}};
        j["repeats"] = repeats;
        j["checksum"] = sink;
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "units %zu x %zu options (%s shapes)\n"
                  "precompute: median %.1f ms over %d builds; frontier %zu points, %zu back-pointer entries (%.1f MiB)\n"
                  "re-plan (plan_for_target, full Plan): mean %.1f us, median %.1f us, p99 %.1f us, max %.1f us\n"
                  "lookup (frontier_index + formats_at):  mean %.1f us, median %.1f us, p99 %.1f us, max %.1f us\n",
                  table.units.size(), options, spec.distinct_shapes ? "distinct" : "decoder", bs.median, builds,
                  planner->frontier().size(), planner->pareto().stored_entries(),
                  planner->pareto().stored_entries() * 5.0 / 1048576.0, ps.mean, ps.median, ps.p99, ps.max, ls.mean,
                  ls.median, ls.p99, ls.max);
    std::cout << buf;
    return 0;
}

CommandRegistrar reg({"bench-plan",
                      "mixq bench-plan [--layers 50] [--candidates int4-g128,int4-g32,int8-g128] [--distinct-shapes] "
                      "[--seed 1] [--repeats 5000] [--builds 3] [--json]",
                      "Benchmarks the planner on a synthetic score table: frontier precompute time and size, "
                      "re-plan latency.",
                      {"--json", "--distinct-shapes"}, run_bench_plan});

}  // namespace
}  // namespace mixq::cli
