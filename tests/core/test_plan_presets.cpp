// SPDX-License-Identifier: MIT
// Presets and model ties on the demo model (6 layers, tied embeddings): llama.cpp's use_more_bits sets from the
// reference document, the promoted units of k_quant_mixed, format choice, exact storage against hand-computed
// numbers, estimated file size against the safetensors bytes, partial KLD for unscored formats, pins by unit,
// tensor and lm_head alias, and the hash / structure mismatch errors.
#include <QtTest>
#include <set>

#include "core/common/error.h"
#include "core/io/model.h"
#include "core/plan/model_check.h"
#include "core/plan/planner.h"
#include "core/plan/presets.h"
#include "core/plan/synthetic_scores.h"
#include "test_support.h"

using namespace mixq;
using quant::QuantFormat;

namespace {
std::set<int> promoted(int n) {
    std::set<int> s;
    for (int i = 0; i < n; ++i)
        if (plan::use_more_bits(i, n)) s.insert(i);
    return s;
}
std::set<int> range(int a, int b, int step = 1) {  // [a, b]
    std::set<int> s;
    for (int i = a; i <= b; i += step) s.insert(i);
    return s;
}
std::set<int> unite(std::initializer_list<std::set<int>> parts) {
    std::set<int> s;
    for (const auto& p : parts) s.insert(p.begin(), p.end());
    return s;
}
}  // namespace

class TestPlanPresets : public QObject {
    Q_OBJECT
    std::shared_ptr<io::Model> m_model;
    score::ScoreTable m_table;

private slots:
    void initTestCase() {
        m_model = io::Model::open(mixq_test::demo_model());
        m_table = plan::synthetic_scores_for_units(
            m_model->layout().units,
            {QuantFormat::parse("int4-g128"), QuantFormat::parse("int4-g32"), QuantFormat::parse("int8-g32")}, 17);
        m_table.model_hash = m_model->content_hash();
        m_table.model_path = m_model->dir().string();
    }

    void useMoreBitsMatchesReference() {
        // quantization-reference.md 4.2, llama.cpp column (C integer division).
        QCOMPARE(promoted(28), unite({range(0, 2), range(5, 23, 3), range(24, 27)}));
        QCOMPARE(promoted(36), unite({range(0, 3), range(6, 30, 3), range(31, 35)}));
        // n = 32: n/8 = 4, 7n/8 = 28.
        QCOMPARE(promoted(32), unite({range(0, 3), range(6, 27, 3), range(28, 31)}));
        // n = 6 (demo): n/8 = 0, 7n/8 = 5: {2, 5}.
        QCOMPARE(promoted(6), (std::set<int>{2, 5}));
    }

    void presetParsing() {
        QVERIFY(plan::parse_preset("k_quant_mixed") == plan::Preset::KQuantMixed);
        QVERIFY(plan::parse_preset("rtn") == plan::Preset::Rtn);
        try {
            plan::parse_preset("q4_k_m");
            QFAIL("must throw");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("k_quant_mixed") != std::string::npos);
        }
    }

    void plannerOptionsFromModel() {
        const auto o = plan::planner_options_for(*m_model, m_table);
        // Outside the units: 2 RMSNorm weights per layer + the final norm, hidden 128.
        QCOMPARE(o.non_planned_params, int64_t(6 * 2 * 128 + 128));
        QCOMPARE(o.num_layers, 6);
        plan::check_scores_for_model(m_table, *m_model, "scores.json");  // must not throw
    }

    void rtnPresetsAndExactStorage() {
        plan::Planner p(m_table, plan::planner_options_for(*m_model, m_table));
        const auto rtn = p.plan_preset(plan::Preset::Rtn);
        QCOMPARE(rtn.int4_units, 25);
        for (const auto& u : rtn.units) {
            QCOMPARE(u.format.name(), std::string("int4-g32"));  // the table's int4 candidate with block 32
            QVERIFY(u.has_kld);
        }
        // layers.0.qkv: q [128,128] + k [64,128] + v [64,128] = 256 rows x K 128; int4-g32 asymmetric:
        // per row 4 blocks x (32 x 4 bits) + 4 scales x 16 bits + ceil(4 x 4 / 8) = 2 zero-point bytes
        // = 512 + 64 + 16 = 592 bits.
        QCOMPARE(rtn.find("layers.0.qkv")->storage_bits, uint64_t(256 * 592));
        // layers.0.down: [128, 352]: 11 blocks: 1408 + 176 + ceil(44/8)=6 bytes (48 bits) = 1632 bits per row.
        QCOMPARE(rtn.find("layers.0.down")->storage_bits, uint64_t(128 * 1632));
        QCOMPARE(rtn.source, plan::PlanSource::Preset);
        QCOMPARE(rtn.preset, std::string("rtn"));

        const auto last = p.plan_preset(plan::Preset::RtnLast);
        QCOMPARE(last.int8_units, 1);
        QCOMPARE(last.int4_units, 24);
        const auto* tied = last.find("tied_embedding");
        QCOMPARE(tied->format.name(), std::string("int8-g32"));
        // [1024, 128] int8-g32 asym: per row 4 x 256 + 4 x 16 + 4 bytes (32 bits) = 1120 bits.
        QCOMPARE(tied->storage_bits, uint64_t(1024 * 1120));
        QCOMPARE(tied->bytes, uint64_t(1024 * 1120 / 8));
        // Estimated file size: unit bytes + 2 bytes per norm weight.
        uint64_t bytes = 0;
        for (const auto& u : last.units) bytes += u.bytes;
        QCOMPARE(last.estimated_file_bytes, bytes + 2 * uint64_t(6 * 2 * 128 + 128));
        QVERIFY(last.kld_complete());
        double kld = 0;
        for (size_t i = 0; i < m_table.units.size(); ++i)
            for (const auto& c : m_table.units[i].candidates)
                if (c.format == last.units[i].format) kld += c.kld;
        QCOMPARE(last.predicted_kld, kld);
    }

    void kquantPresetsWithUnscoredFormats() {
        plan::Planner p(m_table, plan::planner_options_for(*m_model, m_table));
        const auto kl = p.plan_preset(plan::Preset::KQuantLast);
        QCOMPARE(kl.units_without_kld, 25);  // the table has no k-quant candidates
        QVERIFY(!kl.kld_complete());
        QCOMPARE(kl.predicted_kld, 0.0);
        QCOMPARE(kl.find("layers.3.o")->format.name(), std::string("int4-g32-kquant"));
        QCOMPARE(kl.find("tied_embedding")->format.name(), std::string("int8-g32-kquant"));

        const auto km = p.plan_preset(plan::Preset::KQuantMixed);
        std::set<std::string> hi;
        for (const auto& u : km.units) {
            QVERIFY(u.format.method == quant::Method::KQuant);
            if (u.format.bits == 8) hi.insert(u.name);
        }
        QCOMPARE(hi, (std::set<std::string>{"layers.2.qkv", "layers.2.down", "layers.5.qkv", "layers.5.down",
                                            "tied_embedding"}));
        QCOMPARE(km.int8_units, 5);
        QCOMPARE(km.int4_units, 20);
        // Bits are exact even though KLD is unknown: same storage as the RTN formats of equal layout.
        const auto rl = p.plan_preset(plan::Preset::RtnLast);
        QCOMPARE(kl.total_bits, rl.total_bits);

        // --block-size 128: the table's int4-g128 (scored) and a built int8-g128.
        plan::PresetOptions po;
        po.block_size = 128;
        const auto r128 = p.plan_preset(plan::Preset::RtnLast, po);
        QCOMPARE(r128.find("layers.0.o")->format.name(), std::string("int4-g128"));
        QVERIFY(r128.find("layers.0.o")->has_kld);
        QCOMPARE(r128.find("tied_embedding")->format.name(), std::string("int8-g128"));
        QVERIFY(!r128.find("tied_embedding")->has_kld);
        QCOMPARE(r128.units_without_kld, 1);
    }

    void allFloatPlanIsTheSafetensorsSize() {
        plan::Planner p(m_table, plan::planner_options_for(*m_model, m_table));
        const auto f = p.plan_formats(std::vector<QuantFormat>(m_table.units.size(), QuantFormat::float16()),
                                      plan::PlanSource::Import);
        QCOMPARE(f.avg_bits, 16.0);
        QCOMPARE(f.float_units, 25);
        QCOMPARE(f.predicted_kld, 0.0);
        // BF16 weights: the estimate is exactly the tensor bytes of model.safetensors.
        QCOMPARE(f.estimated_file_bytes, uint64_t(m_model->weights().total_bytes()));
        QCOMPARE(f.estimated_file_bytes, uint64_t(2 * m_model->parameter_count()));
    }

    void pinsByUnitTensorAndAlias() {
        auto o = plan::planner_options_for(*m_model, m_table);
        o.pins = {plan::parse_pin("model.layers.3.mlp.up_proj.weight=int8-g32"), plan::parse_pin("lm_head=int4-g64"),
                  plan::parse_pin("layers.1.qkv=fp16"), plan::parse_pin("model.layers.4.self_attn.o_proj=int8-g32")};
        plan::Planner p(m_table, o);
        QCOMPARE(int(p.pins().size()), 4);
        QCOMPARE(p.pins()[0].unit, std::string("layers.1.qkv"));  // table order
        QVERIFY(!p.frontier_kld_complete());                       // int4-g64 is not a candidate
        for (double target : {5.5, 6.0, 9.0, 15.0}) {
            const auto plan = p.plan_for_target(target);
            QCOMPARE(plan.find("layers.3.gate_up")->format.name(), std::string("int8-g32"));
            QCOMPARE(plan.find("tied_embedding")->format.name(), std::string("int4-g64"));
            QCOMPARE(plan.find("layers.1.qkv")->format.name(), std::string("fp16"));
            QCOMPARE(plan.find("layers.4.o")->format.name(), std::string("int8-g32"));
            QVERIFY(!plan.find("tied_embedding")->has_kld);
            QCOMPARE(plan.units_without_kld, 1);
            QCOMPARE(int(plan.pins.size()), 4);
        }
        // Pins override presets too.
        const auto km = p.plan_preset(plan::Preset::KQuantMixed);
        QCOMPARE(km.find("tied_embedding")->format.name(), std::string("int4-g64"));
        // Conflicting pins for one unit.
        o.pins.push_back(plan::parse_pin("model.layers.3.mlp.gate_proj=int4-g32"));
        QVERIFY_THROWS_EXCEPTION(Error, plan::Planner{m_table, o});
    }

    void mismatchedScoresAreRejected() {
        auto t = m_table;
        t.model_hash = "0123456789abcdef";
        try {
            plan::check_scores_for_model(t, *m_model, "scores.json");
            QFAIL("hash mismatch must throw");
        } catch (const Error& e) {
            const std::string m = e.what();
            QVERIFY2(m.rfind("scores.json: scores are for model 0123456789abcdef", 0) == 0, e.what());
            QVERIFY(m.find(m_model->content_hash()) != std::string::npos);
            QVERIFY(m.find('\n') == std::string::npos);
        }
        t = m_table;
        t.units[2].shapes[0] = {64, 64};
        QVERIFY_THROWS_EXCEPTION(Error, plan::check_scores_for_model(t, *m_model, "scores.json"));
        t = m_table;
        t.units[0].name = "layers.0.qkv_typo";
        QVERIFY_THROWS_EXCEPTION(Error, plan::check_scores_for_model(t, *m_model, "scores.json"));
    }
};

QTEST_APPLESS_MAIN(TestPlanPresets)
#include "test_plan_presets.moc"
