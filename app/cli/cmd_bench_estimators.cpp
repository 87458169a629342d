// SPDX-License-Identifier: MIT
// `mixq bench-estimators MODEL (--heldout FILE | --sampled)`: how well each sensitivity estimator stands in for
// exact scoring on one model (benchmark, not a test). Scores with exact mode and with every estimator (the residual
// shortcut, the Fisher estimate at three sample counts, exact mode on fewer sequences, the shortcut scaled per layer
// by one exact unit), then per estimator: Spearman against exact within each candidate (the lowest) and over all
// (unit, candidate) pairs, the plans it chooses at 5, 6 and 7 average bits with their predicted KLD, the KLD
// measured on held-out text with the plan's fake-quant weights, the gap to the exact-score plan's measured KLD, and
// seconds, also relative to exact and to one reference forward + backward pass over the calibration set. Prints a
// markdown table (or --json). --sampled draws calibration and held-out sequences from the model itself (for a
// converted checkpoint whose tokenizer is not at hand).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/engine/layer_backward.h"
#include "core/plan/plan_weights.h"
#include "core/plan/planner.h"
#include "core/score/fisher.h"
#include "core/score/kl_divergence.h"
#include "core/score/scorer.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::cli {
namespace {
using engine::RowMatrix;

std::vector<double> ranks(const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {  // ties share their mean rank
        size_t j = i;
        while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
        for (size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * double(i + j);
        i = j + 1;
    }
    return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
    const auto ra = ranks(a), rb = ranks(b);
    const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / double(ra.size());
    const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / double(rb.size());
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < ra.size(); ++i) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

/// Lowest Spearman within one candidate, and over all (unit, candidate) pairs.
std::pair<double, double> rank_agreement(const score::ScoreTable& est, const score::ScoreTable& exact) {
    double lowest = 1.0;
    std::vector<double> all_a, all_b;
    for (size_t c = 0; c < exact.candidates.size(); ++c) {
        std::vector<double> a, b;
        for (size_t u = 0; u < exact.units.size(); ++u) {
            a.push_back(est.units[u].candidates[c].kld);
            b.push_back(exact.units[u].candidates[c].kld);
        }
        lowest = std::min(lowest, spearman(a, b));
        all_a.insert(all_a.end(), a.begin(), a.end());
        all_b.insert(all_b.end(), b.begin(), b.end());
    }
    return {lowest, spearman(all_a, all_b)};
}

/// Seconds of one reference forward + backward pass (one self-sampled label set, weight gradients squared and
/// accumulated) over every calibration sequence: the unit the cost bound is stated in.
double forward_backward_seconds(std::shared_ptr<const io::Model> model, const score::CalibrationSet& calib) {
    const auto t0 = std::chrono::steady_clock::now();
    engine::Transformer tf(model);
    const auto& cfg = model->config();
    const engine::Rope rope(cfg);
    const auto head = tf.current_matrix(model->layout().tied_embeddings ? io::TensorNames::embed() : io::TensorNames::lm_head());
    std::vector<score::LayerFisher> fisher(static_cast<size_t>(cfg.num_layers));
    for (const auto& seq : calib.sequences) {
        RowMatrix h = tf.embed(seq);
        std::vector<engine::LayerTape> tapes(static_cast<size_t>(cfg.num_layers));
        for (int l = 0; l < cfg.num_layers; ++l)
            engine::layer_forward_taped(cfg, rope, *tf.layer(l), l, h, tapes[static_cast<size_t>(l)]);
        const RowMatrix logp = score::log_softmax(tf.logits_with(h, *head));
        RowMatrix g = engine::head_backward(tf, h, *head, score::sampled_label_grad(logp, 1));
        for (int l = cfg.num_layers - 1; l >= 0; --l) {
            engine::LinearGrads lg;
            g = engine::layer_backward(cfg, rope, *tf.layer(l), l, tapes[static_cast<size_t>(l)], g, &lg);
            fisher[static_cast<size_t>(l)].add(lg, tapes[static_cast<size_t>(l)].taps);
        }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// `n` sequences of `t` tokens drawn from the model itself (temperature 1, starting at its BOS token): calibration
/// and held-out text for a model whose tokenizer is not at hand.
std::vector<std::vector<int>> sampled_sequences(std::shared_ptr<const io::Model> model, int n, int t, uint64_t seed) {
    engine::Transformer tf(model);
    const auto& bos = model->config().bos_token_ids;
    std::mt19937_64 rng(seed);
    std::vector<std::vector<int>> out;
    for (int s = 0; s < n; ++s) {
        std::vector<int> seq{bos.empty() ? 1 : bos[0]};
        auto cache = tf.make_cache(t);
        RowMatrix logits = tf.forward(seq, &cache);
        while (int(seq.size()) < t) {
            const RowMatrix logp = score::log_softmax(logits.bottomRows(1));
            const double u = double(rng() >> 11) * 0x1.0p-53;
            double cdf = 0;
            int next = int(logp.cols()) - 1;
            for (int j = 0; j < logp.cols(); ++j)
                if ((cdf += std::exp(double(logp(0, j)))) > u) {
                    next = j;
                    break;
                }
            seq.push_back(next);
            logits = tf.forward({next}, &cache);
        }
        out.push_back(std::move(seq));
    }
    return out;
}

struct Heldout {
    std::vector<std::vector<int>> windows;
    std::vector<RowMatrix> base_logp;
    int64_t tokens = 0;
};

double measured_kld(std::shared_ptr<const io::Model> model, const plan::Plan& p, const Heldout& h) {
    engine::Transformer tf = plan::plan_engine(model, p);
    plan::apply_plan_fake_quant(tf, *model, p);
    double kl = 0;
    for (size_t i = 0; i < h.windows.size(); ++i) kl += score::kl_sum(h.base_logp[i], tf.forward(h.windows[i]));
    return kl / double(h.tokens);
}

int run_bench_estimators(const Args& args) {
    args.allow_only({"--heldout", "--calib", "--samples", "--seq-len", "--heldout-tokens", "--fast-sequences",
                     "--fisher-samples", "--bits", "--label", "--sampled", "--dump", "--json"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const auto heldout_file = args.get("--heldout");
    if (!heldout_file && !args.has("--sampled"))
        usage_fail("missing --heldout FILE (text the calibration set does not contain) or --sampled");
    const int samples = int(args.get_int("--samples", 32, 1, 1 << 16));
    const int seq_len = int(args.get_int("--seq-len", 128, 2, 1 << 20));
    const int fast_seqs = int(args.get_int("--fast-sequences", 8, 1, 1 << 16));
    const int fisher_samples = int(args.get_int("--fisher-samples", score::ScoreOptions{}.fisher_samples, 1, 64));
    const int heldout_tokens = int(args.get_int("--heldout-tokens", 1024, 2, 1 << 24));
    const std::string label = args.get_or("--label", model->dir().filename().string());
    std::vector<double> bits;
    {
        std::stringstream ss(args.get_or("--bits", "5,6,7"));
        std::string b;
        while (std::getline(ss, b, ',')) bits.push_back(std::stod(b));
    }
    const int vocab = model->config().vocab_size;
    const bool sampled = args.has("--sampled");
    auto tok = tok::Tokenizer::from_file(model->tokenizer_path());
    score::CalibrationSet calib;
    if (sampled) {
        calib.sequences = sampled_sequences(model, samples, seq_len, 1);
        calib.source = "sampled from the model";
    } else {
        calib = score::load_calibration(*tok, args.get_or("--calib", ""), samples, seq_len);
    }
    for (auto& s : calib.sequences)
        for (int& id : s) id %= vocab;  // generated models may have a smaller vocabulary than their tokenizer
    Heldout held;
    if (sampled) {
        engine::Transformer base(model);
        for (auto& w : sampled_sequences(model, std::max(1, heldout_tokens / 128), 128, 2)) {
            held.base_logp.push_back(score::log_softmax(base.forward(w)));
            held.windows.push_back(std::move(w));
            held.tokens += 128;
        }
    } else {
        std::ifstream in(*heldout_file, std::ios::binary);
        if (!in) fail(*heldout_file, "cannot read");
        std::stringstream ss;
        ss << in.rdbuf();
        std::vector<int> ids = tok->encode(ss.str());
        engine::Transformer base(model);
        for (size_t at = 0; at + 128 <= ids.size() && held.tokens + 128 <= heldout_tokens; at += 128) {
            std::vector<int> w(ids.begin() + long(at), ids.begin() + long(at + 128));
            for (int& id : w) id %= vocab;
            held.base_logp.push_back(score::log_softmax(base.forward(w)));
            held.windows.push_back(std::move(w));
            held.tokens += 128;
        }
        if (held.windows.empty()) fail(*heldout_file, "fewer than 128 tokens");
    }

    struct Estimator {
        std::string name;
        score::ScoreOptions opt;
        int sequences;
    };
    std::vector<Estimator> ests;
    auto add = [&](const std::string& name, const std::string& mode, const std::string& est, int r, int seqs) {
        Estimator e{name, {}, seqs};
        e.opt.mode = mode;
        e.opt.memory = score::MemoryMode::Full;
        e.opt.fast_estimator = est;
        e.opt.fisher_samples = r;
        e.opt.fast_max_sequences = fast_seqs;
        ests.push_back(e);
    };
    add("exact", "exact", "fisher", 1, samples);
    add("shortcut", "fast", "shortcut", 1, fast_seqs);
    add("fisher r=" + std::to_string(std::max(1, fisher_samples / 2)), "fast", "fisher", std::max(1, fisher_samples / 2), fast_seqs);
    add("fisher r=" + std::to_string(fisher_samples) + " (fast mode)", "fast", "fisher", fisher_samples, fast_seqs);
    add("fisher r=" + std::to_string(4 * fisher_samples), "fast", "fisher", 4 * fisher_samples, fast_seqs);
    add("exact " + std::to_string(std::max(1, samples / 8)) + " seq", "exact", "fisher", 1, std::max(1, samples / 8));

    const double fb = forward_backward_seconds(model, calib);
    std::vector<score::ScoreTable> tables;
    for (const auto& e : ests) {
        score::CalibrationSet c = calib;
        c.sequences.resize(std::min(c.sequences.size(), size_t(e.sequences)));
        tables.push_back(score::score_model(model, c, e.opt, null_job()));
        if (const auto dump = args.get("--dump")) score::save_score_table(tables.back(), *dump + "-" + std::to_string(tables.size() - 1) + ".json");
    }
    // Combination: the shortcut scaled, per layer and candidate, by exact / shortcut of that layer's o unit (its
    // exact KLDs taken from the exact table; running them alone would cost about a quarter of exact mode, since the
    // o unit is one of a layer's four and its variants run the same downstream layers, so the time is an estimate).
    {
        score::ScoreTable t = tables[1];
        for (auto& u : t.units) {
            if (u.layer < 0) continue;
            const std::string ref = "layers." + std::to_string(u.layer) + ".o";
            for (size_t r = 0; r < t.units.size(); ++r) {
                if (tables[0].units[r].name != ref) continue;
                for (size_t c = 0; c < u.candidates.size(); ++c) {
                    const double sc = tables[1].units[r].candidates[c].kld, ex = tables[0].units[r].candidates[c].kld;
                    if (sc > 0) u.candidates[c].kld *= ex / sc;
                }
            }
        }
        t.seconds = tables[1].seconds + 0.25 * tables[0].seconds;
        ests.push_back({"shortcut × layer factor (o exact; time est.)", {}, 0});
        tables.push_back(std::move(t));
    }
    std::vector<double> exact_measured;
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < ests.size(); ++i) {
        const auto [within, overall] = rank_agreement(tables[i], tables[0]);
        plan::Planner planner(tables[i]);
        nlohmann::json row = {{"model", label},
                              {"estimator", ests[i].name},
                              {"spearman_within_min", within},
                              {"spearman_all", overall},
                              {"seconds", tables[i].seconds},
                              {"vs_exact", tables[i].seconds / tables[0].seconds},
                              {"vs_fwd_bwd", tables[i].seconds / fb}};
        nlohmann::json plans = nlohmann::json::array();
        for (size_t b = 0; b < bits.size(); ++b) {
            // A target below the smallest reachable average (small hidden sizes: scales cost more) takes that average.
            const plan::Plan p = planner.plan_for_target(std::max(bits[b], planner.min_avg_bits()));
            const double measured = measured_kld(model, p, held);
            if (i == 0) exact_measured.push_back(measured);
            plans.push_back({{"bits", bits[b]},
                             {"avg_bits", p.avg_bits},
                             {"predicted", p.predicted_kld},
                             {"measured", measured},
                             {"ratio", measured > 0 ? p.predicted_kld / measured : 0.0},
                             {"gap", exact_measured[b] > 0 ? measured / exact_measured[b] - 1.0 : 0.0}});
        }
        row["plans"] = plans;
        rows.push_back(row);
    }
    if (args.has("--json")) {
        std::cout << nlohmann::json{{"forward_backward_seconds", fb}, {"rows", rows}}.dump() << "\n";
        return 0;
    }
    std::cout << "forward+backward over " << calib.sequences.size() << " x " << seq_len << ": " << fb << " s\n";
    std::cout << "| model | estimator | Spearman min within cand. | Spearman all | pred/meas 5/6/7 | plan KLD gap 5/6/7 | s | × exact | × fwd+bwd |\n";
    for (const auto& r : rows) {
        std::string ratio, gap;
        for (const auto& p : r["plans"]) {
            char a[32], g[32];
            std::snprintf(a, sizeof a, "%s%.2f", ratio.empty() ? "" : " / ", p["ratio"].get<double>());
            std::snprintf(g, sizeof g, "%s%+.1f%%", gap.empty() ? "" : " / ", 100 * p["gap"].get<double>());
            ratio += a;
            gap += g;
        }
        char line[512];
        std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %s | %s | %.2f | %.3f | %.2f |",
                      r["model"].get<std::string>().c_str(), r["estimator"].get<std::string>().c_str(),
                      r["spearman_within_min"].get<double>(), r["spearman_all"].get<double>(), ratio.c_str(),
                      gap.c_str(), r["seconds"].get<double>(), r["vs_exact"].get<double>(), r["vs_fwd_bwd"].get<double>());
        std::cout << line << "\n";
    }
    return 0;
}

CommandRegistrar reg({"bench-estimators",
                      "mixq bench-estimators MODEL (--heldout FILE [--calib FILE] | --sampled) [--samples 32] [--seq-len 128] "
                      "[--fast-sequences 8] [--fisher-samples 4] [--heldout-tokens 1024] [--bits 5,6,7] [--label NAME] [--dump PREFIX] [--json]",
                      "Compares the fast sensitivity estimators with exact scores (ranking, plans, measured KLD, time).",
                      {"--json", "--sampled"}, run_bench_estimators});

}  // namespace
}  // namespace mixq::cli
