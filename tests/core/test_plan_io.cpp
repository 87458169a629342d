// SPDX-License-Identifier: MIT
// plan.json round trip and validation errors; Olive / AutoRound override parsing, QKV / gate_up / tied
// normalization (counts worked out by hand), and export -> import round trips, on the demo model's units.
#include <QtTest>
#include <nlohmann/json.hpp>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/overrides.h"
#include "core/plan/plan_json.h"
#include "core/plan/planner.h"
#include "core/plan/synthetic_scores.h"
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
        QCOMPARE(set.entries[2].second.name(), std::string("int8-g128"));  // missing fields from the default
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
                     "a.json: ", "'model.layers.9.mlp.up_proj' is not a weight of this model");
        expect_error([&] { plan::parse_overrides_json(R"({"lm_head": {"bits": 4, "group_size": -1}})", "a.json"); },
                     "a.json: 'lm_head'", "per-channel");
        expect_error([&] { plan::parse_overrides_json(R"({"lm_head": {"bits": 3}})", "a.json"); }, "a.json: 'lm_head'",
                     "bits 3");
        expect_error([&] { plan::parse_overrides_json("[1]", "a.json"); }, "a.json: ", "expected a JSON object");
    }

    void exportImportRoundTrip() {
        auto pl = planner();
        for (double target : {4.8, 5.6, 7.0}) {
            const auto p = pl.plan_for_target(target);
            for (const auto& text : {plan::plan_to_olive_json(p), plan::plan_to_autoround_json(p)}) {
                const auto set = plan::parse_overrides_json(text, "export.json");
                const auto n = plan::normalize_overrides(set, m_table, "export.json");
                QCOMPARE(n.normalized, 0);  // a plan is already normalized
                std::vector<QuantFormat> formats(m_table.units.size(),
                                                 set.default_format.value_or(QuantFormat::float16()));
                for (const auto& pin : n.units) formats[*pl.names().find(pin.unit)] = pin.format;
                for (size_t i = 0; i < formats.size(); ++i)
                    QVERIFY2(formats[i] == p.units[i].format, qPrintable(QString::fromStdString(p.units[i].name)));
            }
        }
        // Olive: the tied unit appears under both names; AutoRound lists every module.
        const auto p = pl.plan_preset(plan::Preset::RtnLast);
        const auto o = json::parse(plan::plan_to_olive_json(p));
        QCOMPARE(o["default"]["bits"].get<int>(), 4);
        QCOMPARE(o["overrides"]["lm_head"]["bits"].get<int>(), 8);
        QCOMPARE(o["overrides"]["model.embed_tokens"]["bits"].get<int>(), 8);
        QCOMPARE(int(o["overrides"].size()), 2);
        const auto a = json::parse(plan::plan_to_autoround_json(p));
        QCOMPARE(int(a.size()), 6 * 7 + 2);
        QCOMPARE(a["model.layers.5.mlp.down_proj"]["group_size"].get<int>(), 32);
        QCOMPARE(a["model.layers.5.mlp.down_proj"]["sym"].get<bool>(), false);
    }
};

QTEST_APPLESS_MAIN(TestPlanIo)
#include "test_plan_io.moc"
