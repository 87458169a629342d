// SPDX-License-Identifier: MIT
// Issue 18: config.json files in the shapes transformers 4 and 5 publish (llama, mistral, qwen2, qwen3, scaled
// down), each loaded with small random BF16 weights of the right names, checked against values written here (RoPE
// base and type, head_dim, eos ids, dtype, sliding window per layer) and against an independent naive forward pass
// (double precision, attention with the window spelled out) beyond the window; plus the refusals of fields MixQ
// does not implement and of wrong-typed or out-of-range values.
#include <QtTest>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "core/common/error.h"
#include "core/engine/transformer.h"
#include "core/io/model.h"
#include "test_support.h"

using namespace mixq;
using nlohmann::json;
using engine::RowMatrix;
namespace fs = std::filesystem;

namespace {

constexpr int kHidden = 64, kHeads = 4, kKv = 2, kLayers = 3, kInter = 96, kVocab = 96;

struct Case {
    const char* name;
    const char* config;  ///< the config.json text
    double theta;
    const char* rope_type;  ///< "none", "llama3"
    std::vector<int> windows;
    int head_dim;
    std::vector<int> eos;
    bool tied, bias, qk_norm;
};

// Shapes of published configs (SmolLM2 / Llama-3.2 / Mistral-7B-v0.1 / Qwen2.5-1.5B / Qwen3-0.6B), re-saved by
// transformers 5 (rope_parameters, dtype, layer_types) or as transformers 4 wrote them.
const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        {"llama_v5_smollm2", R"({"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
          "bos_token_id":0,"dtype":"bfloat16","eos_token_id":0,"head_dim":16,"hidden_act":"silu","hidden_size":64,
          "initializer_range":0.041666666666666664,"intermediate_size":96,"is_llama_config":true,
          "max_position_embeddings":8192,"mlp_bias":false,"model_type":"llama","num_attention_heads":4,
          "num_hidden_layers":3,"num_key_value_heads":2,"pad_token_id":null,"pretraining_tp":1,"rms_norm_eps":1e-05,
          "rope_interleaved":false,"rope_parameters":{"rope_theta":100000.0,"rope_type":"default"},
          "tie_word_embeddings":true,"transformers_version":"5.0.0","use_cache":true,"vocab_size":96})",
         100000.0, "none", {0, 0, 0}, 16, {0}, true, false, false},
        {"llama_v5_llama3_scaling", R"({"architectures":["LlamaForCausalLM"],"attention_bias":false,"bos_token_id":1,
          "dtype":"bfloat16","eos_token_id":[1,8,9],"head_dim":16,"hidden_act":"silu","hidden_size":64,
          "intermediate_size":96,"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama",
          "num_attention_heads":4,"num_hidden_layers":3,"num_key_value_heads":2,"rms_norm_eps":1e-05,
          "rope_parameters":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
          "original_max_position_embeddings":16,"rope_theta":500000.0,"rope_type":"llama3"},
          "tie_word_embeddings":false,"transformers_version":"5.0.0","use_cache":true,"vocab_size":96})",
         500000.0, "llama3", {0, 0, 0}, 16, {1, 8, 9}, false, false, false},
        {"mistral_v5_window", R"({"architectures":["MistralForCausalLM"],"attention_dropout":0.0,"bos_token_id":1,
          "dtype":"bfloat16","eos_token_id":2,"head_dim":null,"hidden_act":"silu","hidden_size":64,
          "initializer_range":0.02,"intermediate_size":96,"max_position_embeddings":32768,"model_type":"mistral",
          "num_attention_heads":4,"num_hidden_layers":3,"num_key_value_heads":2,"rms_norm_eps":1e-05,
          "rope_parameters":{"rope_theta":10000.0,"rope_type":"default"},"sliding_window":4,
          "tie_word_embeddings":false,"transformers_version":"5.0.0","use_cache":true,"vocab_size":96})",
         10000.0, "none", {4, 4, 4}, 16, {2}, false, false, false},
        {"qwen2_v5_no_window", R"({"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":5,
          "dtype":"bfloat16","eos_token_id":5,"hidden_act":"silu","hidden_size":64,"initializer_range":0.02,
          "intermediate_size":96,"layer_types":["full_attention","full_attention","full_attention"],
          "max_position_embeddings":131072,"max_window_layers":21,"model_type":"qwen2","num_attention_heads":4,
          "num_hidden_layers":3,"num_key_value_heads":2,"rms_norm_eps":1e-06,
          "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"sliding_window":32768,
          "tie_word_embeddings":true,"transformers_version":"5.0.0","use_cache":true,"use_sliding_window":false,
          "vocab_size":96})",
         1000000.0, "none", {0, 0, 0}, 16, {5}, true, true, false},
        {"qwen2_v4_window_from_layer_1", R"({"architectures":["Qwen2ForCausalLM"],"bos_token_id":5,"eos_token_id":5,
          "hidden_act":"silu","hidden_size":64,"intermediate_size":96,"max_position_embeddings":32768,
          "max_window_layers":1,"model_type":"qwen2","num_attention_heads":4,"num_hidden_layers":3,
          "num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_scaling":null,"rope_theta":10000.0,"sliding_window":3,
          "tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.1","use_cache":true,
          "use_sliding_window":true,"vocab_size":96})",
         10000.0, "none", {0, 3, 3}, 16, {5}, false, true, false},
        {"qwen3_v5", R"({"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
          "bos_token_id":7,"dtype":"bfloat16","eos_token_id":[7,8],"head_dim":32,"hidden_act":"silu",
          "hidden_size":64,"initializer_range":0.02,"intermediate_size":96,
          "layer_types":["full_attention","full_attention","full_attention"],"max_position_embeddings":40960,
          "max_window_layers":28,"model_type":"qwen3","num_attention_heads":4,"num_hidden_layers":3,
          "num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},
          "sliding_window":null,"tie_word_embeddings":true,"transformers_version":"5.0.0","use_cache":true,
          "use_sliding_window":false,"vocab_size":96})",
         1000000.0, "none", {0, 0, 0}, 32, {7, 8}, true, false, true},
        {"qwen3_v4_layer_types", R"({"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"bos_token_id":7,
          "eos_token_id":7,"head_dim":32,"hidden_act":"silu","hidden_size":64,"intermediate_size":96,
          "layer_types":["full_attention","full_attention","sliding_attention"],"max_position_embeddings":40960,
          "max_window_layers":0,"model_type":"qwen3","num_attention_heads":4,"num_hidden_layers":3,
          "num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_scaling":null,"rope_theta":20000.0,"sliding_window":5,
          "tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.55.0","use_cache":true,
          "use_sliding_window":true,"vocab_size":96})",
         20000.0, "none", {0, 0, 5}, 32, {7}, false, false, true},
    };
    return c;
}

float bf16_round(float x) {  // round to nearest even bf16, back to float
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000u;
    float r;
    std::memcpy(&r, &u, 4);
    return r;
}

/// The weights of one model, by HF name, as the float values the BF16 file holds.
using Weights = std::map<std::string, std::vector<float>>;

Weights write_model(const fs::path& dir, const Case& k) {
    const int d = k.head_dim, Q = kHeads * d, KV = kKv * d;
    std::vector<std::pair<std::string, std::vector<int64_t>>> t = {{"model.embed_tokens.weight", {kVocab, kHidden}},
                                                                   {"model.norm.weight", {kHidden}}};
    if (!k.tied) t.push_back({"lm_head.weight", {kVocab, kHidden}});
    for (int i = 0; i < kLayers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        for (auto [n, s] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
                 {"input_layernorm.weight", {kHidden}}, {"post_attention_layernorm.weight", {kHidden}},
                 {"self_attn.q_proj.weight", {Q, kHidden}}, {"self_attn.k_proj.weight", {KV, kHidden}},
                 {"self_attn.v_proj.weight", {KV, kHidden}}, {"self_attn.o_proj.weight", {kHidden, Q}},
                 {"mlp.gate_proj.weight", {kInter, kHidden}}, {"mlp.up_proj.weight", {kInter, kHidden}},
                 {"mlp.down_proj.weight", {kHidden, kInter}}})
            t.push_back({p + n, s});
        if (k.bias)
            for (auto [n, s] : std::vector<std::pair<std::string, int64_t>>{
                     {"self_attn.q_proj.bias", Q}, {"self_attn.k_proj.bias", KV}, {"self_attn.v_proj.bias", KV}})
                t.push_back({p + n, {s}});
        if (k.qk_norm) {
            t.push_back({p + "self_attn.q_norm.weight", {d}});
            t.push_back({p + "self_attn.k_norm.weight", {d}});
        }
    }
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Weights w;
    std::vector<io::TensorToWrite> out;
    for (const auto& [name, shape] : t) {
        int64_t n = 1;
        for (auto s : shape) n *= s;
        const bool norm = name.find("norm") != std::string::npos;
        const float std_ = name.find("self_attn.q_proj") != std::string::npos ||
                                   name.find("self_attn.k_proj") != std::string::npos
                               ? 0.5f
                               : 0.15f;
        std::vector<float> v(static_cast<size_t>(n));
        for (auto& x : v) x = bf16_round(norm ? 1.0f + 0.1f * nd(rng) : std_ * nd(rng));
        io::TensorToWrite tw{name, io::DType::BF16, shape, std::vector<uint8_t>(static_cast<size_t>(n) * 2)};
        for (int64_t i = 0; i < n; ++i) {
            uint32_t u;
            std::memcpy(&u, &v[static_cast<size_t>(i)], 4);
            const uint16_t h = static_cast<uint16_t>(u >> 16);
            std::memcpy(tw.bytes.data() + i * 2, &h, 2);
        }
        out.push_back(std::move(tw));
        w[name] = std::move(v);
    }
    fs::create_directories(dir);
    io::write_safetensors(dir / "model.safetensors", out);
    std::ofstream(dir / "config.json") << k.config;
    return w;
}

/// Independent reference: the decoder in double precision, straight from the definitions, with attention over
/// keys (t - window, t] when window > 0 (per layer).
std::vector<std::vector<double>> reference_logits(const Case& k, const Weights& w, const std::vector<int>& ids,
                                                  const std::vector<int>& windows) {
    const int T = static_cast<int>(ids.size()), d = k.head_dim, half = d / 2;
    const double eps = k.qk_norm || k.bias ? 1e-6 : 1e-5;
    using Vec = std::vector<double>;
    auto matvec = [&](const std::string& n, const Vec& x, int rows) {
        const auto& m = w.at(n);
        const int cols = static_cast<int>(x.size());
        Vec y(static_cast<size_t>(rows), 0.0);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) y[r] += m[static_cast<size_t>(r) * cols + c] * x[c];
        return y;
    };
    auto rms = [&](const Vec& x, const std::vector<float>& g, size_t off, size_t n) {
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += x[off + i] * x[off + i];
        const double inv = 1.0 / std::sqrt(s / n + eps);
        Vec y(n);
        for (size_t i = 0; i < n; ++i) y[i] = x[off + i] * inv * g[i];
        return y;
    };
    std::vector<double> inv_freq(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) {
        double f = 1.0 / std::pow(k.theta, 2.0 * i / d);
        if (std::string(k.rope_type) == "llama3") {  // factor 32, low 1, high 4, original 16
            const double wl = 2 * M_PI / f;
            if (wl > 16.0) f = f / 32.0;
            else if (wl >= 4.0) {
                const double s = (16.0 / wl - 1.0) / 3.0;
                f = (1 - s) * f / 32.0 + s * f;
            }
        }
        inv_freq[i] = f;
    }
    auto rope = [&](Vec& v, int heads, int pos) {
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < half; ++i) {
                const double a = v[h * d + i], b = v[h * d + i + half], ang = pos * inv_freq[i];
                v[h * d + i] = a * std::cos(ang) - b * std::sin(ang);
                v[h * d + i + half] = b * std::cos(ang) + a * std::sin(ang);
            }
    };
    std::vector<Vec> h(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) {
        const auto& e = w.at("model.embed_tokens.weight");
        h[t].assign(e.begin() + ids[t] * kHidden, e.begin() + (ids[t] + 1) * kHidden);
    }
    for (int l = 0; l < kLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        std::vector<Vec> q(T), kk(T), v(T);
        for (int t = 0; t < T; ++t) {
            const Vec x = rms(h[t], w.at(p + "input_layernorm.weight"), 0, kHidden);
            q[t] = matvec(p + "self_attn.q_proj.weight", x, kHeads * d);
            kk[t] = matvec(p + "self_attn.k_proj.weight", x, kKv * d);
            v[t] = matvec(p + "self_attn.v_proj.weight", x, kKv * d);
            if (k.bias) {
                for (int i = 0; i < kHeads * d; ++i) q[t][i] += w.at(p + "self_attn.q_proj.bias")[i];
                for (int i = 0; i < kKv * d; ++i) kk[t][i] += w.at(p + "self_attn.k_proj.bias")[i];
                for (int i = 0; i < kKv * d; ++i) v[t][i] += w.at(p + "self_attn.v_proj.bias")[i];
            }
            if (k.qk_norm) {
                for (int hh = 0; hh < kHeads; ++hh) {
                    const Vec y = rms(q[t], w.at(p + "self_attn.q_norm.weight"), hh * d, d);
                    std::copy(y.begin(), y.end(), q[t].begin() + hh * d);
                }
                for (int hh = 0; hh < kKv; ++hh) {
                    const Vec y = rms(kk[t], w.at(p + "self_attn.k_norm.weight"), hh * d, d);
                    std::copy(y.begin(), y.end(), kk[t].begin() + hh * d);
                }
            }
            rope(q[t], kHeads, t);
            rope(kk[t], kKv, t);
        }
        for (int t = 0; t < T; ++t) {
            Vec attn(static_cast<size_t>(kHeads * d), 0.0);
            const int first = windows[l] > 0 ? std::max(0, t - windows[l] + 1) : 0;
            for (int hh = 0; hh < kHeads; ++hh) {
                const int g = hh / (kHeads / kKv);
                std::vector<double> s;
                double mx = -1e300;
                for (int j = first; j <= t; ++j) {
                    double dot = 0;
                    for (int i = 0; i < d; ++i) dot += q[t][hh * d + i] * kk[j][g * d + i];
                    s.push_back(dot / std::sqrt(double(d)));
                    mx = std::max(mx, s.back());
                }
                double sum = 0;
                for (auto& x : s) sum += (x = std::exp(x - mx));
                for (int j = first; j <= t; ++j)
                    for (int i = 0; i < d; ++i) attn[hh * d + i] += s[j - first] / sum * v[j][g * d + i];
            }
            const Vec o = matvec(p + "self_attn.o_proj.weight", attn, kHidden);
            for (int i = 0; i < kHidden; ++i) h[t][i] += o[i];
        }
        for (int t = 0; t < T; ++t) {
            const Vec x = rms(h[t], w.at(p + "post_attention_layernorm.weight"), 0, kHidden);
            Vec gt = matvec(p + "mlp.gate_proj.weight", x, kInter);
            const Vec up = matvec(p + "mlp.up_proj.weight", x, kInter);
            for (int i = 0; i < kInter; ++i) gt[i] = gt[i] / (1 + std::exp(-gt[i])) * up[i];
            const Vec dn = matvec(p + "mlp.down_proj.weight", gt, kHidden);
            for (int i = 0; i < kHidden; ++i) h[t][i] += dn[i];
        }
    }
    std::vector<Vec> logits;
    for (int t = 0; t < T; ++t)
        logits.push_back(matvec(k.tied ? "model.embed_tokens.weight" : "lm_head.weight",
                                rms(h[t], w.at("model.norm.weight"), 0, kHidden), kVocab));
    return logits;
}

double max_diff(const RowMatrix& a, const std::vector<std::vector<double>>& b) {
    double m = 0;
    for (int t = 0; t < a.rows(); ++t)
        for (int j = 0; j < a.cols(); ++j) m = std::max(m, std::fabs(a(t, j) - b[t][j]));
    return m;
}

template <class F>
QString error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

}  // namespace

class TestConfigFamilies : public QObject {
    Q_OBJECT

private slots:
    void families_data() {
        QTest::addColumn<int>("index");
        for (size_t i = 0; i < cases().size(); ++i) QTest::newRow(cases()[i].name) << int(i);
    }
    void families() {
        QFETCH(int, index);
        const Case& k = cases()[static_cast<size_t>(index)];
        const auto dir = mixq_test::scratch(std::string("family_") + k.name);
        const Weights w = write_model(dir, k);
        auto m = io::Model::open(dir);
        const auto& c = m->config();
        QCOMPARE(c.rope_theta, k.theta);
        QCOMPARE(c.rope_scaling.type, std::string(k.rope_type));
        QCOMPARE(c.head_dim, k.head_dim);
        QCOMPARE(c.eos_token_ids, k.eos);
        QCOMPARE(c.torch_dtype, std::string("bfloat16"));
        QCOMPARE(m->layout().tied_embeddings, k.tied);
        QCOMPARE(c.attention_bias, k.bias);
        std::vector<int> windows;
        for (int i = 0; i < c.num_layers; ++i) windows.push_back(c.window(i));
        QCOMPARE(windows, k.windows);

        // Logits against the independent reference, over 12 positions (beyond every window).
        const std::vector<int> ids = {3, 17, 42, 5, 88, 23, 61, 9, 77, 30, 14, 50};
        engine::Transformer tf(m);
        const RowMatrix logits = tf.forward(ids);
        const auto ref = reference_logits(k, w, ids, k.windows);
        const double err = max_diff(logits, ref);
        QVERIFY2(err < 2e-3, qPrintable(QString("max |engine - reference| = %1").arg(err)));
        // Decoding one token at a time through the KV cache gives the same logits.
        auto cache = tf.make_cache(16);
        RowMatrix inc(static_cast<int64_t>(ids.size()), kVocab);
        for (size_t t = 0; t < ids.size(); ++t) inc.row(static_cast<int64_t>(t)) = tf.forward({ids[t]}, &cache).row(0);
        QVERIFY2((inc - logits).cwiseAbs().maxCoeff() < 1e-4, "cached decode differs from prefill");
        // The window matters: full attention gives different logits beyond it (so this test can fail).
        if (c.has_sliding_window()) {
            const auto full = reference_logits(k, w, ids, std::vector<int>(kLayers, 0));
            QVERIFY2(max_diff(logits, full) > 1e-2, "the window does not change these logits: test is blind");
        }
    }

    void refusals_data() {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QStringList>("fragments");
        auto row = [](const char* n, const char* edit, QStringList f) { QTest::newRow(n) << QString(edit) << f; };
        row("yarn", R"({"rope_parameters":{"rope_theta":1e6,"rope_type":"yarn","factor":4.0}})", {"rope_parameters.rope_type", "yarn"});
        row("dynamic_v4", R"({"rope_scaling":{"type":"dynamic","factor":2.0}})", {"rope_scaling.rope_type", "dynamic"});
        row("unknown_rope_field", R"({"rope_parameters":{"rope_theta":1e6,"rope_type":"default","beta_fast":32}})", {"rope_parameters.beta_fast", "32"});
        row("llama3_missing_field", R"({"rope_parameters":{"rope_theta":1e6,"rope_type":"llama3","factor":8.0}})", {"low_freq_factor", "missing"});
        row("partial_rotary", R"({"partial_rotary_factor":0.5})", {"partial_rotary_factor", "0.5"});
        row("partial_rotary_v5", R"({"rope_parameters":{"rope_theta":1e6,"partial_rotary_factor":0.25}})", {"rope_parameters.partial_rotary_factor", "0.25"});
        row("mlp_bias", R"({"mlp_bias":true})", {"mlp_bias", "true"});
        row("theta_disagree", R"({"rope_theta":10000.0})", {"rope_theta", "10000", "1e+06"});
        row("scaling_disagree", R"({"rope_scaling":{"rope_type":"linear","factor":2.0}})", {"rope_scaling", "linear", "default", "disagree"});
        row("dtype_disagree", R"({"torch_dtype":"float32"})", {"dtype", "bfloat16", "float32"});
        row("dtype_unknown", R"({"dtype":"int8"})", {"dtype", "int8"});
        row("tie_string", R"({"tie_word_embeddings":"false"})", {"tie_word_embeddings", "\"false\""});
        row("act_list", R"({"hidden_act":["silu"]})", {"hidden_act", "[\"silu\"]"});
        row("layers_huge", R"({"num_hidden_layers":8.9e97})", {"num_hidden_layers", "8.9e+97"});
        row("layers_zero", R"({"num_hidden_layers":0})", {"num_hidden_layers", "positive", "0"});
        row("window_zero", R"({"use_sliding_window":true,"sliding_window":0})", {"sliding_window", "0", "outside"});
        row("layers_2_63", R"({"num_hidden_layers":9223372036854775808})", {"num_hidden_layers", "9223372036854775808"});
        row("eos_huge", R"({"eos_token_id":[7,4294967296]})", {"eos_token_id[1]", "4294967296"});
        row("window_float", R"({"use_sliding_window":true,"sliding_window":4096.5})", {"sliding_window", "4096.5"});
        row("window_flag_string", R"({"use_sliding_window":"true"})", {"use_sliding_window", "\"true\""});
        row("layer_types_short", R"({"layer_types":["full_attention"]})", {"layer_types", "3"});
        row("layer_type_unknown", R"({"layer_types":["full_attention","chunked_attention","full_attention"]})", {"layer_types[1]", "chunked_attention"});
        row("sliding_without_window", R"({"layer_types":["full_attention","sliding_attention","full_attention"]})", {"layer_types[1]", "no window"});
        row("unknown_key", R"({"quantization_config":{"quant_method":"awq"}})", {"quantization_config", "awq"});
        row("rope_interleaved", R"({"rope_interleaved":true})", {"rope_interleaved", "true"});
        row("auto_map", R"({"auto_map":{"AutoModelForCausalLM":"modeling_x.X"}})", {"auto_map"});
    }
    void refusals() {
        QFETCH(QString, edit);
        QFETCH(QStringList, fragments);
        json j = json::parse(cases()[5].config);  // qwen3_v5
        j.merge_patch(json::parse(edit.toStdString()));
        const QString msg = error_of([&] { io::parse_model_config(j.dump(), "cfg.json"); });
        QVERIFY2(msg.startsWith("cfg.json: ") && !msg.contains('\n'), qPrintable("got: '" + msg + "'"));
        for (const auto& f : fragments) QVERIFY2(msg.contains(f), qPrintable("missing '" + f + "' in: " + msg));
    }

    void acceptedHarmlessAndSources() {
        // The unmodified fixtures parse; harmless keys pass; the sources say where each value came from.
        json j = json::parse(cases()[5].config);
        j["pad_token_id"] = 3;
        j["rope_interleaved"] = false;
        j["quantization_config"] = nullptr;
        const auto c = io::parse_model_config(j.dump(), "cfg.json");
        QCOMPARE(c.sources.at("rope_theta"), std::string("rope_parameters.rope_theta"));
        QCOMPARE(c.sources.at("dtype"), std::string("dtype"));
        json v4 = json::parse(cases()[4].config);
        const auto c4 = io::parse_model_config(v4.dump(), "cfg.json");
        QCOMPARE(c4.sources.at("rope_theta"), std::string("rope_theta"));
        QCOMPARE(c4.sources.at("dtype"), std::string("torch_dtype"));
        // qwen3 without head_dim: Qwen3Config's default 128, not hidden / heads.
        j.erase("head_dim");
        QCOMPARE(io::parse_model_config(j.dump(), "cfg.json").head_dim, 128);
        // mistral without sliding_window: MistralConfig's default 4096 on every layer; null turns it off.
        json m = json::parse(cases()[2].config);
        m.erase("sliding_window");
        auto cm = io::parse_model_config(m.dump(), "cfg.json");
        QCOMPARE(cm.window(0), 4096);
        QCOMPARE(cm.window(2), 4096);
        m["sliding_window"] = nullptr;
        QVERIFY(!io::parse_model_config(m.dump(), "cfg.json").has_sliding_window());
        // The demo model and the shared models stay accepted.
        io::Model::open(mixq_test::demo_model());
        if (mixq_test::have_shared()) io::Model::open(mixq_test::shared_dir() / "models" / "tiny-llama-kjv");
    }
};

QTEST_APPLESS_MAIN(TestConfigFamilies)
#include "test_config_families.moc"
