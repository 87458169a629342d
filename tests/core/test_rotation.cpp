// SPDX-License-Identifier: MIT
// Hadamard rotation leaves the float model's function unchanged (logits within 1e-4) on the demo model untied,
// and on synthetic qwen2 (biases) and qwen3 (q/k norms) models; low_memory reloads stay rotated; tied models are
// refused with a clear error.
#include <QtTest>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/io/synthetic_model.h"
#include "core/score/scorer.h"
#include "test_support.h"

using namespace mixq;
namespace fs = std::filesystem;

namespace {

/// The demo model with lm_head.weight written as a separate copy of the embedding table.
fs::path untied_demo() {
    const auto dir = mixq_test::scratch("untied") / "m";
    auto src = io::Model::open(mixq_test::demo_model());
    const auto& ws = src->weights();
    std::vector<io::TensorToWrite> out;
    for (const auto& t : ws.tensors()) out.push_back({t.name, t.dtype, t.shape, {ws.raw(t), ws.raw(t) + t.nbytes}});
    auto head = out.front();
    for (const auto& t : out)
        if (t.name == io::TensorNames::embed()) head = t;
    head.name = io::TensorNames::lm_head();
    out.push_back(head);
    fs::create_directories(dir);
    io::write_safetensors(dir / "model.safetensors", out);
    auto cfg = io::load_model_config(mixq_test::demo_model() / "config.json");
    cfg.tie_word_embeddings = false;
    std::ofstream(dir / "config.json") << io::model_config_to_json(cfg);
    fs::copy_file(mixq_test::demo_model() / "tokenizer.json", dir / "tokenizer.json");
    return dir;
}

double rotated_diff(std::shared_ptr<io::Model> m, bool resident, double* scale = nullptr) {
    engine::Transformer plain(m);
    engine::EngineOptions opt;
    opt.resident = resident;
    opt.rotation = std::make_shared<engine::Rotation>(m, 7);
    engine::Transformer rot(m, opt);
    const std::vector<int> ids = {959, 259, 889, 261, 110, 283, 431, 279, 552, 285, 259, 915};
    const auto a = plain.forward(ids), b = rot.forward(ids);
    if (scale) *scale = a.cwiseAbs().maxCoeff();
    // the rotated weights really differ from the file's
    const auto q0 = rot.current_matrix(io::TensorNames::q(0));
    const auto f0 = plain.current_matrix(io::TensorNames::q(0));
    if ((*q0 - *f0).cwiseAbs().maxCoeff() < 1e-3) return 1e9;
    return (a - b).cwiseAbs().maxCoeff();
}

}  // namespace

class TestRotation : public QObject {
    Q_OBJECT

private slots:
    void demoUntiedUnchanged() {
        auto m = io::Model::open(untied_demo());
        double scale = 0;
        const double d = rotated_diff(m, true, &scale);
        qInfo("demo (untied): max |logit| %.3f, max abs diff after rotation %.3g", scale, d);
        QVERIFY(scale > 1.0);
        QVERIFY(d <= 1e-4);
        QVERIFY(rotated_diff(m, false) <= 1e-4);  // layers re-read from the file are rotated again
    }

    void qwenFamiliesUnchanged() {
        for (const std::string type : {"qwen2", "qwen3", "mistral"}) {
            auto spec = io::SyntheticSpec::preset("tiny");
            spec.config.model_type = type;
            spec.config.attention_bias = type == "qwen2";
            spec.config.qk_norm = type == "qwen3";
            spec.config.tie_word_embeddings = false;
            spec.init_std = 0.15f;
            const auto dir = mixq_test::scratch("rot_" + type) / "m";
            io::write_synthetic_model(dir, spec);
            auto m = io::Model::open(dir);
            double scale = 0;
            const double d = rotated_diff(m, true, &scale);
            qInfo("%s: max |logit| %.3f, diff %.3g", type.c_str(), scale, d);
            QVERIFY2(d <= 1e-4, type.c_str());
        }
    }

    void scoringKeepsRotationAcrossModes() {
        // Rotated scoring in full, low_memory (layers re-read from the file) and offload (hidden states on disk)
        // agree, and differ from unrotated scoring (the rotation was really applied in every mode).
        auto m = io::Model::open(untied_demo());
        score::CalibrationSet calib;
        calib.source = "test";
        for (int s = 0; s < 3; ++s) {
            std::vector<int> seq;
            for (int i = 0; i < 32; ++i) seq.push_back((s * 97 + i * 31) % 1023);
            calib.sequences.push_back(seq);
        }
        score::ScoreOptions opt;
        opt.memory = score::MemoryMode::Full;
        const auto plain = score::score_model(m, calib, opt);
        opt.rotation = "hadamard";
        const auto full = score::score_model(m, calib, opt);
        QCOMPARE(full.rotation, std::string("hadamard:seed=1"));
        int differ = 0;
        for (auto mode : {score::MemoryMode::LowMemory, score::MemoryMode::Offload}) {
            opt.memory = mode;
            opt.offload_dir = mixq_test::scratch("rot_offload");
            const auto t = score::score_model(m, calib, opt);
            for (size_t u = 0; u < t.units.size(); ++u)
                for (size_t c = 0; c < t.candidates.size(); ++c) {
                    const double a = t.units[u].candidates[c].kld, b = full.units[u].candidates[c].kld;
                    QVERIFY2(std::fabs(a - b) <= 1e-6 * b, t.units[u].name.c_str());
                    differ += std::fabs(b - plain.units[u].candidates[c].kld) > 1e-3 * b;
                }
        }
        QVERIFY(differ > 10);
    }

    void tiedRefused() {
        auto m = io::Model::open(mixq_test::demo_model());
        bool threw = false;
        try {
            engine::Rotation r(m);
        } catch (const Error& e) {
            threw = QString(e.what()).contains("untied embeddings");
        }
        QVERIFY(threw);
    }
};

QTEST_APPLESS_MAIN(TestRotation)
#include "test_rotation.moc"
