// SPDX-License-Identifier: MIT
// plan.json round trip and validation errors; Olive / AutoRound override parsing, QKV / gate_up / tied
// normalization (counts worked out by hand), export -> import round trips, the keys each tool accepts and the
// shapes each tool writes (rules from Olive and AutoRound's code, cited per test; see docs/interop.md).
#include <QtTest>
#include <nlohmann/json.hpp>
#include <set>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/overrides.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"
#include "core/plan/planner.h"
#include "core/plan/synthetic_scores.h"
#include "core/plan/unit_names.h"
#include "test_errors.h"
#include "test_support.h"

using namespace mixq;
using quant::QuantFormat;
using nlohmann::json;

namespace {
// Expects `f` to throw a one-line mixq::Error starting with `prefix` and containing `needle`.
template <class F>
void expect_error(F&& f, const std::string& prefix, const std::string& needle) {
    try {
        f();
    } catch (const Error& e) {
        const std::string m = e.what();
        QVERIFY2(m.rfind(prefix, 0) == 0, e.what());
        QVERIFY2(m.find(needle) != std::string::npos, e.what());
        QVERIFY2(m.find('\n') == std::string::npos, e.what());
        return;
    }
    QFAIL(("no error; expected one containing: " + needle).c_str());
}
}  // namespace

class TestPlanIo : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;
    score::ScoreTable m_table;

    plan::Planner planner(std::vector<plan::Pin> pins = {}) const {
        auto o = plan::planner_options_for(*m_model, m_table);
        o.pins = std::move(pins);
        return plan::Planner(m_table, o);
    }

    // What an import pins, as `mixq plan --import-overrides` applies it: the default everywhere, then the pins.
    std::vector<QuantFormat> imported_formats(const std::string& text) const {
        const auto set = plan::parse_overrides_json(text, "in.json");
        const auto n = plan::normalize_overrides(set, m_table, "in.json");
        std::vector<QuantFormat> f(m_table.units.size(), set.default_format.value_or(QuantFormat::float16()));
        const plan::UnitNames names(m_table);
        for (const auto& pin : n.units) f[*names.find(pin.unit)] = pin.format;
        return f;
    }
    std::string format_of(const std::string& text, const std::string& unit) const {
        try {
            const auto f = imported_formats(text);
            return f[*plan::UnitNames(m_table).find(unit)].name();
        } catch (const Error& e) {
            return std::string("error: ") + e.what();  // shows in the QCOMPARE failure
        }
    }

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        m_table = plan::synthetic_scores_for_units(
            m_model->layout().units,
            {QuantFormat::parse("int4-g128"), QuantFormat::parse("int4-g32"), QuantFormat::parse("int8-g128")}, 3);
        m_table.model_hash = m_model->content_hash();
        m_table.model_path = m_model->dir().string();
    }

    void planJsonRoundTrip() {
        const auto p = planner({plan::parse_pin("layers.2.o=int4-g64-sym")}).plan_for_target(5.25);
        const auto dir = mixq_test::scratch("plan_io_roundtrip");
        plan::save_plan(p, dir / "plan.json");
        const auto q = plan::load_plan(dir / "plan.json");
        QCOMPARE(q.model_hash, m_model->content_hash());
        QCOMPARE(q.source, plan::PlanSource::Target);
        QCOMPARE(q.target_bits, 5.25);
        QCOMPARE(q.units.size(), p.units.size());
        for (size_t i = 0; i < p.units.size(); ++i) {
            QCOMPARE(q.units[i].name, p.units[i].name);
            QVERIFY(q.units[i].format == p.units[i].format);
            QCOMPARE(q.units[i].has_kld, p.units[i].has_kld);
            if (p.units[i].has_kld) QCOMPARE(q.units[i].kld, p.units[i].kld);
            QCOMPARE(q.units[i].pinned, p.units[i].pinned);
            QCOMPARE(q.units[i].members, p.units[i].members);
        }
        QCOMPARE(q.total_bits, p.total_bits);
        QCOMPARE(q.avg_bits, p.avg_bits);
        QCOMPARE(q.estimated_file_bytes, p.estimated_file_bytes);
        QCOMPARE(q.units_without_kld, 1);
        QCOMPARE(q.pins, (std::map<std::string, std::string>{{"layers.2.o", "int4-g64-sym"}}));
        plan::check_plan_for_model(q, *m_model, "plan.json");

        // The JSON as the exporter reads it: per tensor bits / block / symmetric / method; float = bits 16.
        const auto j = json::parse(mixq_test::read_text(dir / "plan.json"));
        QCOMPARE(j["predicted_kld_complete"].get<bool>(), false);
        QVERIFY(j["predicted_kld"].is_null());  // unknown is never written as a number
        QCOMPARE(j["predicted_kld_of_scored_units"].get<double>(), p.predicted_kld);
        QCOMPARE(j["units_without_kld_names"], json::array({"layers.2.o"}));
        QVERIFY(j["units"][0].contains("kld"));
        for (const auto& u : p.units)
            for (const auto& m : u.members) {
                const auto& t = j["tensors"][m];
                QCOMPARE(t["bits"].get<int>(), u.format.is_float() ? 16 : u.format.bits);
                if (!u.format.is_float()) QCOMPARE(t["block_size"].get<int>(), u.format.block_size);
            }
        const auto& o = j["tensors"]["model.layers.2.self_attn.o_proj.weight"];
        QCOMPARE(o["symmetric"].get<bool>(), true);
        QCOMPARE(o["method"].get<std::string>(), std::string("rtn"));
        QCOMPARE(j["units"][9]["name"].get<std::string>(), std::string("layers.2.o"));
        QVERIFY(j["units"][9]["kld"].is_null());
        QCOMPARE(j["counts"]["int4"].get<int>() + j["counts"]["int8"].get<int>() + j["counts"]["float16"].get<int>(), 25);
    }

    void planInheritsTheScoresRotation() {
        // Scores computed in a rotated basis make plans for that basis, and the plan file keeps it (the exporter
        // and the engine then use the same basis, test_export_ort); an unknown rotation string is refused.
        score::ScoreTable rotated = m_table;
        rotated.rotation = "hadamard:seed=7";
        plan::Planner pl(rotated, plan::planner_options_for(*m_model, rotated));
        const plan::Plan p = pl.plan_for_target(6.0);
        QCOMPARE(p.rotation, std::string("hadamard:seed=7"));
        QCOMPARE(planner({}).plan_for_target(6.0).rotation, std::string("none"));
        const auto dir = mixq_test::scratch("plan_io_rotation");
        plan::save_plan(p, dir / "plan.json");
        QCOMPARE(plan::load_plan(dir / "plan.json").rotation, std::string("hadamard:seed=7"));
        plan::Plan bad = p;
        bad.rotation = "givens";
        const std::string err = mixq_test::error_of([&] { plan::plan_rotation(m_model, bad, "p.json"); });
        QCOMPARE(QString::fromStdString(err), QString("p.json: rotation 'givens' is not none or hadamard:seed=N"));
    }

    void planJsonValidation() {
        const auto p = planner().plan_preset(plan::Preset::RtnLast);
        const std::string good = plan::plan_to_json(p);
        auto edit = [&](auto fn) {
            json j = json::parse(good);
            fn(j);
            return j.dump();
        };
        expect_error([&] { plan::plan_from_json("{not json", "p.json"); }, "p.json: ", "not valid JSON");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["schema"] = "x"; }), "p.json"); }, "p.json: ",
                     "schema mixq.plan/1");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["tensors"]["model.layers.0.mlp.down_proj.weight"]["bits"] = 8; }), "p.json"); },
                     "p.json: tensor 'model.layers.0.mlp.down_proj.weight'", "differs from its unit");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["tensors"].erase("model.layers.1.self_attn.k_proj.weight"); }), "p.json"); },
                     "p.json: unit 'layers.1.qkv'", "missing from \"tensors\"");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["tensors"]["extra.weight"] = j["tensors"]["model.layers.0.mlp.down_proj.weight"]; }), "p.json"); },
                     "p.json: ", "belongs to no unit");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["units"][3]["format"] = "int3-g32"; }), "p.json"); },
                     "p.json: ", "unknown format 'int3-g32'");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["average_bits"] = 4.0; }), "p.json"); }, "p.json: ",
                     "does not match its tensors");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["units"][0].erase("members"); }), "p.json"); },
                     "p.json: ", "malformed plan file");
        expect_error([&] { plan::plan_from_json(edit([](json& j) { j["pins"]["layers.99.o"] = "int8-g32"; }), "p.json"); },
                     "p.json: ", "unknown unit 'layers.99.o'");
        expect_error([&] { plan::load_plan(mixq_test::scratch("plan_io_missing") / "none.json"); }, "", "cannot open");
        auto other = plan::plan_from_json(good, "p.json");
        other.model_hash = "ffffffffffffffff";
        expect_error([&] { plan::check_plan_for_model(other, *m_model, "plan.json"); }, "plan.json: ",
                     "plan is for model ffffffffffffffff");
    }

    void overrideNormalization() {
        // Olive style: default int4-g128 asymmetric.
        const std::string olive = R"({"default": {"bits": 4, "group_size": 128, "symmetric": false},
          "overrides": {"model.layers.0.self_attn.q_proj": {"bits": 8, "group_size": 128},
                        "model.layers.0.self_attn.k_proj": {"bits": 8, "group_size": 32},
                        "model.layers.1.mlp.gate_proj": {"bits": 8},
                        "model.layers.2.mlp.down_proj": {"bits": 8},
                        "lm_head": {"bits": 8, "group_size": 64, "symmetric": true}}})";
        const auto set = plan::parse_overrides_json(olive, "olive.json");
        QCOMPARE(set.style, std::string("olive"));
        QVERIFY(set.default_format && *set.default_format == QuantFormat::parse("int4-g128"));
        QCOMPARE(set.entries[2].format.name(), std::string("int8-g128"));  // missing fields from the default
        const auto n = plan::normalize_overrides(set, m_table, "olive.json");
        // layers.0.qkv: most precise of {int8-g128 (q), int8-g32 (k), int4-g128 (v default)} = int8-g32;
        //   q changes, v changes: 2.  layers.1.gate_up: up (default int4-g128) -> int8-g128: 1.
        //   layers.2.down: single member, nothing to normalize: 0.  tied: embed gets lm_head's: 1.  Total 4.
        QCOMPARE(n.normalized, 4);
        QCOMPARE(int(n.units.size()), 4);
        QCOMPARE(n.units[0].unit, std::string("layers.0.qkv"));
        QCOMPARE(n.units[0].format.name(), std::string("int8-g32"));
        QCOMPARE(n.tensors.at("model.layers.0.self_attn.v_proj.weight").name(), std::string("int8-g32"));
        QCOMPARE(n.units[1].unit, std::string("layers.1.gate_up"));
        QCOMPARE(n.tensors.at("model.layers.1.mlp.up_proj.weight").name(), std::string("int8-g128"));
        QCOMPARE(n.units[3].unit, std::string("tied_embedding"));
        QCOMPARE(n.units[3].format.name(), std::string("int8-g64-sym"));

        // AutoRound style, no default: v alone -> q and k are added (2 entries).
        const std::string ar = R"({"model.layers.3.self_attn.v_proj": {"bits": 8, "group_size": 64, "sym": true},
                                    "model.layers.4.mlp.up_proj": {"bits": 16}})";
        const auto ars = plan::parse_overrides_json(ar, "ar.json");
        QCOMPARE(ars.style, std::string("autoround"));
        const auto an = plan::normalize_overrides(ars, m_table, "ar.json");
        QCOMPARE(an.normalized, 3);
        QCOMPARE(an.units[0].format.name(), std::string("int8-g64-sym"));
        QCOMPARE(an.units[1].format.name(), std::string("fp16"));
        // A less precise override than the default is promoted to the default (Olive's rule).
        const auto low = plan::parse_overrides_json(
            R"({"default": {"bits": 4, "group_size": 32}, "overrides": {"model.layers.0.mlp.up_proj": {"group_size": 128}}})", "x");
        const auto ln = plan::normalize_overrides(low, m_table, "x");
        QCOMPARE(ln.units[0].format.name(), std::string("int4-g32"));
        QCOMPARE(ln.normalized, 1);

        // Ranking.
        QVERIFY(plan::more_precise(QuantFormat::parse("int8-g128"), QuantFormat::parse("int4-g32")));
        QVERIFY(plan::more_precise(QuantFormat::parse("int4-g32"), QuantFormat::parse("int4-g64")));
        QVERIFY(plan::more_precise(QuantFormat::float16(), QuantFormat::parse("int8-g16")));
        QVERIFY(!plan::more_precise(QuantFormat::parse("int4-g32-sym"), QuantFormat::parse("int4-g32")));
    }

    void overrideErrors() {
        expect_error([&] { plan::normalize_overrides(plan::parse_overrides_json(R"({"model.layers.9.mlp.up_proj": {"bits": 8}})", "a.json"), m_table, "a.json"); },
                     "a.json: ", "'model.layers.9.mlp.up_proj' matches no weight of this model");
        expect_error([&] { plan::parse_overrides_json(R"({"lm_head": {"bits": 4, "group_size": -1}})", "a.json"); },
                     "a.json: 'lm_head'", "per-channel");
        expect_error([&] { plan::parse_overrides_json(R"({"lm_head": {"bits": 3}})", "a.json"); }, "a.json: 'lm_head'",
                     "bits 3");
        expect_error([&] { plan::parse_overrides_json("[1]", "a.json"); }, "a.json: ", "expected a JSON object");
    }

    void exportImportRoundTrip() {
        auto pl = planner();
        std::vector<plan::Plan> plans;
        for (double target : {4.8, 5.6, 7.0}) plans.push_back(pl.plan_for_target(target));
        // float units inside the model and in the tied table
        plans.push_back(planner({plan::parse_pin("layers.1.qkv=fp16"), plan::parse_pin("layers.4.down=fp16")}).plan_for_target(6.5));
        plans.push_back(planner({plan::parse_pin("tied_embedding=fp16")}).plan_preset(plan::Preset::RtnLast));
        for (const auto& p : plans) {
            const auto olive = plan::export_olive(p);
            const auto of = imported_formats(olive.text);
            for (size_t i = 0; i < of.size(); ++i)
                QVERIFY2(of[i] == p.units[i].format, qPrintable(QString::fromStdString(p.units[i].name + " " + of[i].name())));
            QCOMPARE(plan::normalize_overrides(plan::parse_overrides_json(olive.text, "o"), m_table, "o").normalized, 0);
            // AutoRound leaves the tied table out (it would not quantize it): everything else comes back.
            const auto af = imported_formats(plan::export_autoround(p).text);
            for (size_t i = 0; i < af.size(); ++i) {
                const auto want = p.units[i].kind == io::UnitKind::TiedEmbedding ? QuantFormat::float16() : p.units[i].format;
                QVERIFY2(af[i] == want, qPrintable(QString::fromStdString(p.units[i].name + " " + af[i].name())));
            }
        }
        // Olive: the tied unit appears under both names and lm_head / embeds are set so that Olive applies them.
        const auto p = pl.plan_preset(plan::Preset::RtnLast);
        const auto o = json::parse(plan::plan_to_olive_json(p));
        QCOMPARE(o["default"]["bits"].get<int>(), 4);
        QCOMPARE(o["default"]["lm_head"].get<bool>(), true);
        QCOMPARE(o["default"]["embeds"].get<bool>(), true);
        QCOMPARE(o["overrides"]["lm_head"]["bits"].get<int>(), 8);
        QCOMPARE(o["overrides"]["model.embed_tokens"]["bits"].get<int>(), 8);
        QCOMPARE(int(o["overrides"].size()), 2);
        const auto a = json::parse(plan::plan_to_autoround_json(p));
        QCOMPARE(int(a.size()), 6 * 7);  // no embedding, no tied lm_head
        QCOMPARE(a["model.layers.5.mlp.down_proj"]["group_size"].get<int>(), 32);
        QCOMPARE(a["model.layers.5.mlp.down_proj"]["sym"].get<bool>(), false);
    }

    // The keys each tool accepts, from its code: Olive's OliveHfQuantizationOverrideConfig (hf_utils.py) has only
    // bits / symmetric / group_size and OliveHfQuantizationConfig.post_init / WeightQuantizer accept bits 2, 4, 8;
    // quant_utils.get_quant_config copies these "default" keys over the pass config. AutoRound's
    // resolver.normalize_item raises "Invalid keys" outside QuantizationScheme's fields (schemes.py).
    void exportsUseOnlyKeysTheToolsAccept() {
        const std::set<std::string> olive_override{"bits", "symmetric", "group_size"};
        const std::set<std::string> olive_default{"bits", "symmetric", "group_size", "lm_head", "embeds", "moe",
                                                  "quantize_vision", "modules_to_not_convert"};
        const std::set<std::string> ar_keys{"bits", "group_size", "sym", "data_type", "act_bits", "act_group_size",
                                            "act_sym", "act_data_type", "act_dynamic", "super_bits", "super_group_size",
                                            "rotation_config", "fixed_by_user", "scale_dtype", "scheme"};
        auto pl = planner({plan::parse_pin("layers.2.o=fp16"), plan::parse_pin("layers.3.gate_up=fp16")});
        for (const auto& p : {pl.plan_preset(plan::Preset::KQuantMixed), pl.plan_for_target(6.0)}) {
            const auto oe = plan::export_olive(p);
            const auto o = json::parse(oe.text);
            for (const auto& [k, v] : o["default"].items()) QVERIFY2(olive_default.count(k), k.c_str());
            QVERIFY(o["default"]["bits"] == 4 || o["default"]["bits"] == 8);
            for (const auto& [m, v] : o["overrides"].items()) {
                for (const auto& [k, x] : v.items()) QVERIFY2(olive_override.count(k), (m + "." + k).c_str());
                QVERIFY(v["bits"] == 4 || v["bits"] == 8);
            }
            // 16-bit modules: exact patterns in modules_to_not_convert, the form Olive writes itself.
            const auto& skip = o["default"]["modules_to_not_convert"];
            QCOMPARE(int(skip.size()), 3);
            QCOMPARE(skip[0].get<std::string>(), std::string(R"(re:^model\.layers\.2\.self_attn\.o_proj$)"));
            QCOMPARE(skip[2].get<std::string>(), std::string(R"(re:^model\.layers\.3\.mlp\.up_proj$)"));
            QVERIFY(!o["overrides"].contains("model.layers.2.self_attn.o_proj"));
            const auto ae = plan::export_autoround(p);
            const auto a = json::parse(ae.text);
            for (const auto& [m, v] : a.items())
                for (const auto& [k, x] : v.items()) QVERIFY2(ar_keys.count(k), (m + "." + k).c_str());
            QCOMPARE(a["model.layers.2.self_attn.o_proj"], json({{"bits", 16}, {"data_type", "float"}}));
            QVERIFY(!a.contains("model.embed_tokens") && !a.contains("lm_head"));
            // One line on what AutoRound does with the tied int8 table, with the average it will really produce.
            auto actual = p;
            for (auto& u : actual.units)
                if (u.kind == io::UnitKind::TiedEmbedding) u.format = QuantFormat::float16();
            plan::finalize_plan(actual);
            char avg[32];
            std::snprintf(avg, sizeof avg, "averages %.4f bits/weight", actual.avg_bits);
            bool found = false;
            for (const auto& n : ae.notes) found = found || n.find(avg) != std::string::npos;
            QVERIFY2(found, avg);
            const bool kq = p.units[0].format.method == quant::Method::KQuant;
            bool olive_kq = false;
            for (const auto& n : oe.notes) olive_kq = olive_kq || n.find("\"type\": \"KQuant\"") != std::string::npos;
            QCOMPARE(olive_kq, kq);
        }
        // Every unit 16-bit: the default still has 4 bits (Olive raises otherwise) and applies to no module.
        std::vector<plan::Pin> all;
        for (const auto& u : m_table.units) all.push_back({u.name, QuantFormat::float16()});
        const auto fp = planner(all).plan_for_target(16.0);
        const auto oe = plan::export_olive(fp);
        const auto o = json::parse(oe.text);
        QCOMPARE(o["default"]["bits"].get<int>(), 4);
        QCOMPARE(o["default"]["lm_head"].get<bool>(), false);
        QCOMPARE(o["default"]["embeds"].get<bool>(), false);
        QCOMPARE(int(o["default"]["modules_to_not_convert"].size()), 6 * 7);
        QCOMPARE(int(oe.notes.size()), 1);
        for (auto f : imported_formats(oe.text)) QVERIFY(f.is_float());
    }

    // Shapes the tools write, and the values they mean (sources in each comment).
    void importRealShapes() {
        // schemes.PRESET_SCHEMES["W8A16"]: bits 8, group_size 128, sym true; resolver.normalize_item takes a
        // "scheme" key or a bare preset name.
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": {"scheme": "W8A16"}})", "layers.0.down")), QString("int8-g128-sym"));
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": "w8a16"})", "layers.0.down")), QString("int8-g128-sym"));
        QCOMPARE(format_of(R"({"model.layers.0.mlp.down_proj": {"scheme": "W8A16", "group_size": 32}})", "layers.0.down"),
                 std::string("int8-g32-sym"));
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": "BF16"})", "layers.0.down")), QString("fp16"));
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": "gguf:q4_0"})", "layers.0.down")), QString("int4-g32-sym"));
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": {"bits": 16, "data_type": "float"}})", "layers.0.down")), QString("fp16"));
        // A bare dict: missing fields from AutoRound's default scheme W4A16 (group_size 128, sym true).
        QCOMPARE(QString::fromStdString(format_of(R"({"model.layers.0.mlp.down_proj": {"bits": 8}})", "layers.0.down")), QString("int8-g128-sym"));

        // Olive quantization_config (OliveHfQuantizationConfig.to_dict): overrides keep only the differing fields,
        // the rest comes from the top level; lm_head / embeds false keep the tied table 16-bit.
        const std::string olive_qc = R"({"quantization_config": {"quant_method": "olive", "bits": 4, "group_size": 32,
            "symmetric": true, "lm_head": false, "embeds": false, "moe": false, "quantize_vision": false,
            "modules_to_not_convert": null, "tie_word_embeddings": true,
            "overrides": {"model.layers.1.mlp.down_proj": {"bits": 8}}}, "model_type": "llama"})";
        QCOMPARE(QString::fromStdString(format_of(olive_qc, "layers.1.down")), QString("int8-g32-sym"));
        QCOMPARE(QString::fromStdString(format_of(olive_qc, "layers.0.down")), QString("int4-g32-sym"));
        QCOMPARE(QString::fromStdString(format_of(olive_qc, "tied_embedding")), QString("fp16"));

        // Olive model config: mixed_precision_info is a model attribute (selective_mixed_precision.py); "re:" keys
        // fullmatch and the first matching key wins (patterns.match_override).
        const std::string olive_mc = R"({"input_model": {"type": "HfModel", "model_path": "m",
            "model_attributes": {"mixed_precision_info": {"default": {"bits": 4, "group_size": 64, "symmetric": false,
                "lm_head": true, "embeds": true},
              "overrides": {"re:model\\.layers\\.[0-2]\\.mlp\\.down_proj": {"bits": 8, "group_size": 64, "symmetric": false},
                            "model.layers.1.mlp.down_proj": {"bits": 8, "group_size": 16, "symmetric": false},
                            "re:model\\.layers\\.4\\..*": {"bits": 8, "group_size": 64, "symmetric": false}}}}}})";
        QCOMPARE(QString::fromStdString(format_of(olive_mc, "layers.1.down")), QString("int8-g64"));   // the regex came first
        QCOMPARE(QString::fromStdString(format_of(olive_mc, "layers.2.down")), QString("int8-g64"));
        QCOMPARE(QString::fromStdString(format_of(olive_mc, "layers.3.down")), QString("int4-g64"));
        QCOMPARE(QString::fromStdString(format_of(olive_mc, "tied_embedding")), QString("int4-g64"));  // lm_head / embeds true

        // AutoRound quantization_config: top-level scheme fields are the default for the decoder blocks; extra_config
        // names are exact layers or to_standard_regex patterns used with re.search, a regex overriding an exact
        // name; lm_head and embeddings are quantized only when listed.
        const std::string ar_qc = R"({"quantization_config": {"quant_method": "auto-round", "packing_format": "auto_round:auto_gptq",
            "bits": 4, "group_size": 64, "sym": true, "data_type": "int", "iters": 200, "autoround_version": "0.15.0",
            "block_name_to_quantize": "model.layers",
            "extra_config": {"model.layers.1.mlp.down_proj": {"bits": 8, "group_size": 32},
                             "mlp.down_proj": {"bits": 8},
                             "model.layers.0.self_attn.q_proj": {"bits": 16, "data_type": "float"}}}})";
        QCOMPARE(QString::fromStdString(format_of(ar_qc, "layers.1.down")), QString("int8-g64-sym"));  // the substring regex won
        QCOMPARE(QString::fromStdString(format_of(ar_qc, "layers.5.down")), QString("int8-g64-sym"));
        QCOMPARE(QString::fromStdString(format_of(ar_qc, "layers.0.qkv")), QString("fp16"));  // normalized: q is 16-bit
        QCOMPARE(QString::fromStdString(format_of(ar_qc, "layers.0.o")), QString("int4-g64-sym"));
        QCOMPARE(QString::fromStdString(format_of(ar_qc, "tied_embedding")), QString("fp16"));
        // to_standard_regex escapes bare dots itself (an escaped "\\." would become "\\\\." there).
        QCOMPARE(QString::fromStdString(format_of(R"({".*self_attn.o_proj$": {"bits": 8}})", "layers.3.o")), QString("int8-g128-sym"));
    }

    void importErrors() {
        auto parse_norm = [&](const std::string& text) {
            plan::normalize_overrides(plan::parse_overrides_json(text, "f.json"), m_table, "f.json");
        };
        // Olive: TypeError for an unexpected keyword; AutoRound: ValueError "Invalid keys".
        expect_error([&] { parse_norm(R"({"default": {"bits": 4}, "overrides": {"lm_head": {"bits": 8, "method": "k_quant"}}})"); },
                     "f.json: 'lm_head'", "unknown key 'method'");
        expect_error([&] { parse_norm(R"({"lm_head": {"bits": 8, "method": "k_quant"}})"); }, "f.json: 'lm_head'", "unknown key 'method'");
        expect_error([&] { parse_norm(R"({"default": {"bits": 4, "sym": true}})"); }, "f.json: default", "unknown key 'sym'");
        expect_error([&] { parse_norm(R"({"default": {"bits": 16}})"); }, "f.json: default", "bits 16");
        expect_error([&] { parse_norm(R"({"default": {"bits": 4}, "overrides": {"lm_head": {"bits": 16}}})"); },
                     "f.json: 'lm_head'", "modules_to_not_convert");
        expect_error([&] { parse_norm(R"({"quant_method": "olive", "bits": 4, "group_size": 32, "symmetric": true, "foo": 1})"); },
                     "f.json: quantization_config", "unknown key 'foo'");
        expect_error([&] { parse_norm(R"({"quant_method": "olive", "bits": 4, "symmetric": true})"); },
                     "f.json: quantization_config", "missing 'group_size'");
        expect_error([&] { parse_norm(R"({"quant_method": "auto-round", "bits": 4, "extra_config": {}, "foo": 1})"); },
                     "f.json: quantization_config", "unknown key 'foo'");
        expect_error([&] { parse_norm(R"({"quant_method": "gptq", "bits": 4})"); }, "f.json: quant_method", "'gptq'");
        expect_error([&] { parse_norm(R"({"model_attributes": {"other": 1}})"); }, "f.json: model_attributes", "no mixed_precision_info");
        expect_error([&] { parse_norm(R"({"lm_head": "W9A16"})"); }, "f.json: 'lm_head'", "unknown AutoRound scheme 'W9A16'");
        expect_error([&] { parse_norm(R"({"lm_head": "W2A16"})"); }, "f.json: 'lm_head'", "bits 2");
        expect_error([&] { parse_norm(R"({"lm_head": "INT8"})"); }, "f.json: 'lm_head'", "act_bits 8");
        expect_error([&] { parse_norm(R"({"lm_head": "gguf:q4_k_m"})"); }, "f.json: 'lm_head'", "super_bits");
        expect_error([&] { parse_norm(R"({"lm_head": "MXFP4"})"); }, "f.json: 'lm_head'", "data_type 'mx_fp'");
        expect_error([&] { parse_norm(R"({"lm_head": {"bits": 8, "data_type": "fp"}})"); }, "f.json: 'lm_head'", "data_type 'fp'");
        expect_error([&] { parse_norm(R"({"default": {"bits": 4}, "overrides": {"re:model\\.layers\\.9\\..*": {"bits": 8}}})"); },
                     "f.json: ", "matches no weight");
        expect_error([&] { parse_norm(R"({"mlp.gate_projection": {"bits": 8}})"); }, "f.json: ", "matches no weight");
        expect_error([&] { parse_norm("{\"default\": {\"bits\": 4}, \"overrides\": {\"re:[\": {\"bits\": 8}}}"); }, "f.json: 're:['", "regex");
    }
};

QTEST_APPLESS_MAIN(TestPlanIo)
#include "test_plan_io.moc"
