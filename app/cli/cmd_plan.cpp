// SPDX-License-Identifier: MIT
// `mixq plan`: a bit-budget plan from scores.json (exact optimum for --target-bits, a preset, or an imported
// Olive / AutoRound override file), with pins; writes plan.json and optional Olive / AutoRound exports, or prints
// the whole (avg_bits, predicted_kld) frontier.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "app/cli/cli_command.h"
#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/overrides.h"
#include "core/export/exporter.h"
#include "core/plan/plan_json.h"
#include "core/plan/planner.h"
#include "core/score/score_table.h"

namespace mixq::cli {
namespace {

std::string fmt(const char* f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

nlohmann::ordered_json frontier_json(const plan::Planner& p, const score::ScoreTable& t) {
    nlohmann::ordered_json j;
    j["model"] = {{"path", t.model_path}, {"hash", t.model_hash}};
    j["units"] = t.units.size();
    j["planned_weights"] = p.total_weights();
    j["min_avg_bits"] = p.min_avg_bits();
    j["max_avg_bits"] = p.max_avg_bits();
    j["kld_complete"] = p.frontier_kld_complete();
    j["precompute_ms"] = p.precompute_ms();
    j["size"] = p.frontier().size();
    nlohmann::ordered_json pts = nlohmann::ordered_json::array();
    for (const auto& f : p.frontier())
        pts.push_back({{"avg_bits", f.avg_bits}, {"predicted_kld", f.predicted_kld}, {"total_bits", f.total_bits}});
    j["points"] = pts;
    return j;
}

void print_frontier(const plan::Planner& p) {
    const auto& f = p.frontier();
    std::cout << "frontier: " << f.size() << " points over " << p.table().units.size() << " units, avg bits "
              << plan::format_bits_ceil(p.min_avg_bits()) << " .. " << fmt("%.4f", p.max_avg_bits()) << " (built in "
              << fmt("%.1f", p.precompute_ms()) << " ms)" << (p.frontier_kld_complete() ? "" : "; KLD partial (pins)")
              << "\n  avg_bits   predicted_kld\n";
    const size_t shown = std::min<size_t>(f.size(), 40);
    size_t last = size_t(-1);
    for (size_t i = 0; i < shown; ++i) {
        const size_t k = shown > 1 ? i * (f.size() - 1) / (shown - 1) : 0;
        if (k == last) continue;
        last = k;
        std::cout << "  " << fmt("%8.4f", f[k].avg_bits) << "   " << fmt("%.6g", f[k].predicted_kld) << "\n";
    }
    if (shown < f.size()) std::cout << "  (" << shown << " of " << f.size() << " points shown; --json prints all)\n";
}

/// The first few units whose planned format has no score, for the "unknown" line.
std::string unscored_names(const plan::Plan& p) {
    std::string out;
    int shown = 0;
    for (const auto& u : p.units) {
        if (u.has_kld) continue;
        if (shown++ == 4) return out + ", ...";
        out += (out.empty() ? "" : ", ") + u.name + " " + u.format.name();
    }
    return out;
}

void print_plan(const plan::Plan& p, const plan::Planner& planner, uint64_t export_bytes) {
    std::cout << "plan:          ";
    if (p.source == plan::PlanSource::Target)
        std::cout << "target " << fmt("%g", p.target_bits) << " bits/weight (exact optimum)\n";
    else if (p.source == plan::PlanSource::Preset)
        std::cout << "preset " << p.preset << "\n";
    else
        std::cout << "imported overrides\n";
    std::cout << "average bits:  " << fmt("%.4f", p.avg_bits) << " (" << p.total_bits << " bits / " << p.total_weights
              << " weights)\n"
              << "predicted KLD: "
              << (p.kld_complete() ? fmt("%.6g", p.predicted_kld)
                                   : "unknown: " + std::to_string(p.units_without_kld) +
                                         " unit(s) have a format the scores do not cover (" + unscored_names(p) +
                                         "); the scored units sum to " + fmt("%.6g", p.predicted_kld))
              << "\n"
              << "units:         " << p.int4_units << " int4, " << p.int8_units << " int8, " << p.float_units
              << " float16; " << p.pins.size() << " pinned\n"
              << "file size:     " << fmt("%.2f", export_bytes / 1048576.0) << " MiB (" << export_bytes
              << " bytes: the exported folder with default options; weights " << p.estimated_file_bytes << " bytes)\n";
    if (p.normalized_overrides) std::cout << "normalized:    " << p.normalized_overrides << " override entries\n";
    std::cout << "frontier:      " << planner.frontier().size() << " points, smallest reachable average "
              << plan::format_bits_ceil(planner.min_avg_bits()) << " bits/weight\n";
    for (const auto& u : p.units)
        std::cout << "  " << u.name << std::string(u.name.size() < 18 ? 18 - u.name.size() : 1, ' ')
                  << u.format.name() << std::string(u.format.name().size() < 20 ? 20 - u.format.name().size() : 1, ' ')
                  << (u.has_kld ? "kld " + fmt("%.4g", u.kld) : std::string("kld unknown")) << (u.pinned ? "  (pinned)" : "")
                  << "\n";
}

int run_plan(const Args& args) {
    args.allow_only({"--scores", "--target-bits", "--preset", "--pin", "--out", "--json", "--frontier",
                     "--import-overrides", "--export-autoround", "--export-olive", "--block-size"});
    const std::string model_dir = args.positional_at(0, "MODEL folder");
    const auto scores_path = args.get("--scores");
    if (!scores_path) usage_fail("missing --scores scores.json");
    const int modes = int(args.has("--target-bits")) + int(args.has("--preset")) + int(args.has("--frontier"));
    if (modes > 1) usage_fail("give only one of --target-bits, --preset and --frontier");
    if (modes == 0 && !args.has("--import-overrides"))
        usage_fail("give --target-bits B, --preset NAME (rtn, rtn_last, k_quant_last, k_quant_mixed) or --frontier");

    auto model = io::Model::open(model_dir);
    const score::ScoreTable table = score::load_score_table(*scores_path);
    plan::check_scores_for_model(table, *model, *scores_path);
    plan::PlannerOptions opts = plan::planner_options_for(*model, table);

    // Command-line pins first; an imported override only pins units the command line leaves free.
    const plan::UnitNames names(table);
    std::set<size_t> pinned;
    for (const auto& spec : args.get_all("--pin")) {
        plan::Pin pin = plan::parse_pin(spec);
        pinned.insert(names.resolve(pin.unit, "pin"));
        opts.pins.push_back(pin);
    }
    std::optional<plan::OverrideSet> imported;
    plan::NormalizedOverrides norm;
    nlohmann::ordered_json interop = nlohmann::ordered_json::object();
    if (auto f = args.get("--import-overrides")) {
        imported = plan::load_overrides(*f);
        norm = plan::normalize_overrides(*imported, table, *f);
        interop["import"] = {{"file", *f}, {"shape", imported->shape}, {"notes", norm.notes}};
        if (!args.has("--json"))
            for (const auto& n : norm.notes) std::cerr << "mixq: note: " << *f << ": " << n << "\n";
        for (const auto& pin : norm.units)
            if (!pinned.count(*names.find(pin.unit))) opts.pins.push_back(pin);
        if (modes == 0 && !imported->default_format)
            fail(*f, "has no \"default\" format; add --target-bits or --preset to plan the other units");
    }

    plan::Planner planner(table, opts);
    if (args.has("--frontier")) {
        if (args.has("--json"))
            std::cout << frontier_json(planner, table).dump(1) << "\n";
        else
            print_frontier(planner);
        return 0;
    }

    plan::Plan p;
    if (auto t = args.get("--target-bits")) {
        p = planner.plan_for_target(args.get_double("--target-bits", 0.0));
    } else if (auto name = args.get("--preset")) {
        plan::PresetOptions po;
        po.block_size = int(args.get_int("--block-size", 0, 0, 1 << 20));
        p = planner.plan_preset(plan::parse_preset(*name), po);
    } else {
        std::vector<quant::QuantFormat> formats(table.units.size(), *imported->default_format);
        p = planner.plan_formats(formats, plan::PlanSource::Import);
    }
    p.normalized_overrides = norm.normalized;
    if (auto out = args.get("--out")) plan::save_plan(p, *out);
    // Each export: the file, and one line per thing the tool cannot express (stderr, or "interop" with --json).
    std::vector<std::string> notes;
    for (const auto& [flag, tool] : {std::pair{"--export-olive", "olive"}, std::pair{"--export-autoround", "autoround"}}) {
        const auto f = args.get(flag);
        if (!f) continue;
        const auto e = std::string(tool) == "olive" ? plan::export_olive(p) : plan::export_autoround(p);
        write_file_atomic(*f, e.text);
        interop["exports"].push_back({{"tool", tool}, {"file", *f}, {"notes", e.notes}});
        for (const auto& n : e.notes) notes.push_back("mixq: note: " + *f + ": " + n);
    }
    // The exact size of `mixq export` with default options (the graph built against a counting writer).
    const uint64_t export_bytes = exporter::estimate_export_size(*model, p).total_bytes;
    if (args.has("--json")) {
        auto j = nlohmann::ordered_json::parse(plan::plan_to_json(p));
        j["export_file_bytes"] = export_bytes;
        if (!interop.empty()) j["interop"] = interop;
        std::cout << j.dump(1) << "\n";
    } else {
        print_plan(p, planner, export_bytes);
        if (auto out = args.get("--out")) std::cout << "wrote " << *out << "\n";
        for (const auto& n : notes) std::cerr << n << "\n";
    }
    return 0;
}

CommandRegistrar reg({"plan",
                      "mixq plan MODEL --scores scores.json (--target-bits B | --preset NAME | --frontier | "
                      "--import-overrides FILE) [--pin NAME=FORMAT]... [--block-size N] [--out plan.json] "
                      "[--export-olive FILE] [--export-autoround FILE] [--json]",
                      "Chooses one format per unit: the exact minimum predicted KLD under an average-bits target, a "
                      "preset (rtn, rtn_last, k_quant_last, k_quant_mixed) or imported overrides; or prints the "
                      "frontier.",
                      {"--json", "--frontier"}, run_plan});

}  // namespace
}  // namespace mixq::cli
