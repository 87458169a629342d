// SPDX-License-Identifier: MIT
// The engine's backward pass against central finite differences of its own forward pass: for random directions,
// ⟨dL/dx, v⟩ = (L(x + εv) − L(x − εv)) / 2ε for a decoder layer's input, its weights (q through q/k norm and RoPE,
// o, gate, down) and the output head, on llama (GQA), qwen2 (biases), qwen3 (q/k norm, MQA) and mistral (sliding
// window) layouts; the taped forward equals the engine's run_layer_with.
#include <QtTest>
#include <random>

#include "core/engine/layer_backward.h"
#include "export_test_models.h"
#include "test_support.h"

using namespace mixq;
using engine::RowMatrix;

namespace {

RowMatrix random_matrix(int64_t r, int64_t c, uint64_t seed, float scale = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.0f, scale);
    RowMatrix m(r, c);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
    return m;
}

double dot(const RowMatrix& a, const RowMatrix& b) { return (a.cast<double>().array() * b.cast<double>().array()).sum(); }

struct Case {
    const char* type;
    int heads, kv_heads, window;
};
const Case kCases[] = {{"llama", 4, 2, 0}, {"qwen2", 4, 4, 0}, {"qwen3", 4, 1, 0}, {"mistral", 4, 2, 5}};

std::shared_ptr<io::Model> case_model(const Case& c) {
    return mixq_test::synthetic_export_model(mixq_test::scratch(std::string("backward-") + c.type), c.type, 64, c.heads,
                                             c.kv_heads, false, false, "none", c.window);
}

/// Relative agreement of an analytic and a finite-difference directional derivative.
void expect_close(double analytic, double numeric, const char* what, const char* type) {
    const double rel = std::fabs(analytic - numeric) / std::max(std::fabs(numeric), 1e-3);
    if (rel > 2e-2) qWarning("%s %s: analytic %.6g, finite difference %.6g", type, what, analytic, numeric);
    QVERIFY2(rel <= 2e-2, (std::string(type) + " " + what).c_str());
}

std::shared_ptr<const engine::Linear> with_weight(const std::shared_ptr<const engine::Linear>& l, const RowMatrix& w) {
    const auto& d = dynamic_cast<const engine::DenseLinear&>(*l);
    return std::make_shared<engine::DenseLinear>(w, d.bias());
}

}  // namespace

class TestLayerBackward : public QObject {
    Q_OBJECT
private slots:
    void tapedForwardIsTheEngines() {
        for (const auto& c : kCases) {
            auto model = case_model(c);
            engine::Transformer tf(model);
            const engine::Rope rope(model->config());
            RowMatrix h = random_matrix(12, 64, 7), h2 = h;
            auto w = tf.layer(1);
            engine::LayerTape tape;
            engine::layer_forward_taped(model->config(), rope, *w, 1, h, tape);
            tf.run_layer_with(*w, 1, h2);
            QVERIFY2((h - h2).cwiseAbs().maxCoeff() < 1e-5f, c.type);
        }
    }

    void layerInputGradientMatchesFiniteDifferences() {
        for (const auto& c : kCases) {
            auto model = case_model(c);
            const auto& cfg = model->config();
            engine::Transformer tf(model);
            const engine::Rope rope(cfg);
            auto w = tf.layer(1);
            const RowMatrix h = random_matrix(12, 64, 11), u = random_matrix(12, 64, 12), v = random_matrix(12, 64, 13);
            RowMatrix out = h;
            engine::LayerTape tape;
            engine::layer_forward_taped(cfg, rope, *w, 1, out, tape);
            const RowMatrix g = engine::layer_backward(cfg, rope, *w, 1, tape, u);
            const float eps = 1e-2f;
            RowMatrix hp = h + eps * v, hm = h - eps * v;
            tf.run_layer_with(*w, 1, hp);
            tf.run_layer_with(*w, 1, hm);
            expect_close(dot(g, v), (dot(u, hp) - dot(u, hm)) / (2.0 * eps), "layer input", c.type);
        }
    }

    void weightGradientsMatchFiniteDifferences() {
        for (const auto& c : kCases) {
            auto model = case_model(c);
            const auto& cfg = model->config();
            engine::Transformer tf(model);
            const engine::Rope rope(cfg);
            auto w = tf.layer(0);
            const RowMatrix h = random_matrix(12, 64, 21), u = random_matrix(12, 64, 22);
            RowMatrix out = h;
            engine::LayerTape tape;
            engine::layer_forward_taped(cfg, rope, *w, 0, out, tape);
            engine::LinearGrads lg;
            engine::layer_backward(cfg, rope, *w, 0, tape, u, &lg);
            struct Target {
                const char* name;
                std::shared_ptr<const engine::Linear> engine::LayerWeights::*member;
                const RowMatrix* delta;
                const RowMatrix* input;
            };
            const Target targets[] = {{"q", &engine::LayerWeights::q, &lg.q, &tape.taps.attn_in},
                                      {"k", &engine::LayerWeights::k, &lg.k, &tape.taps.attn_in},
                                      {"v", &engine::LayerWeights::v, &lg.v, &tape.taps.attn_in},
                                      {"o", &engine::LayerWeights::o, &lg.o, &tape.taps.o_in},
                                      {"gate", &engine::LayerWeights::gate, &lg.gate, &tape.taps.mlp_in},
                                      {"up", &engine::LayerWeights::up, &lg.up, &tape.taps.mlp_in},
                                      {"down", &engine::LayerWeights::down, &lg.down, &tape.taps.down_in}};
            uint64_t seed = 100;
            for (const auto& t : targets) {
                const auto& lin = (*w).*(t.member);
                const RowMatrix& W = dynamic_cast<const engine::DenseLinear&>(*lin).weight();
                // A direction of the weights' own scale, so ε = 1e-2 is a 1% change and the difference quotient is
                // within its O(ε²) truncation error of the derivative.
                const RowMatrix D = random_matrix(W.rows(), W.cols(), ++seed, std::sqrt(W.squaredNorm() / float(W.size())));
                const double analytic = dot(RowMatrix(t.delta->transpose() * *t.input), D);
                const float eps = 1e-2f;
                double l[2];
                for (int sgn = 0; sgn < 2; ++sgn) {
                    engine::LayerWeights wp = *w;
                    wp.*(t.member) = with_weight(lin, W + (sgn ? -eps : eps) * D);
                    RowMatrix x = h;
                    tf.run_layer_with(wp, 0, x);
                    l[sgn] = dot(u, x);
                }
                expect_close(analytic, (l[0] - l[1]) / (2.0 * eps), t.name, c.type);
            }
        }
    }

    void headGradientMatchesFiniteDifferences() {
        auto model = case_model(kCases[0]);
        engine::Transformer tf(model);
        const auto head = tf.current_matrix(io::TensorNames::lm_head());
        const RowMatrix h = random_matrix(6, 64, 31), v = random_matrix(6, 64, 32);
        const RowMatrix u = random_matrix(6, head->rows(), 33);
        const RowMatrix g = engine::head_backward(tf, h, *head, u);
        const float eps = 1e-2f;
        const double numeric =
            (dot(u, tf.logits_with(h + eps * v, *head)) - dot(u, tf.logits_with(h - eps * v, *head))) / (2.0 * eps);
        expect_close(dot(g, v), numeric, "head", "llama");
    }
};

QTEST_APPLESS_MAIN(TestLayerBackward)
#include "test_layer_backward.moc"
