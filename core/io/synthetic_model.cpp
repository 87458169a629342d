// SPDX-License-Identifier: MIT
// write_synthetic_model: seeded Gaussian weights (norm weights near 1), streamed straight into safetensors.
#include "core/io/synthetic_model.h"

#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/model.h"
#include "core/io/model_layout.h"

namespace mixq::io {
namespace fs = std::filesystem;
using nlohmann::json;

SyntheticSpec SyntheticSpec::preset(const std::string& name) {
    SyntheticSpec s;
    ModelConfig& c = s.config;
    c.model_type = "llama";
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 2048;
    c.bos_token_ids = {1023};
    c.eos_token_ids = {1023};
    c.torch_dtype = "bfloat16";
    if (name == "tiny") {
        c.hidden_size = 64; c.intermediate_size = 160; c.num_layers = 2; c.num_heads = 4; c.num_kv_heads = 2;
        c.vocab_size = 1024; c.tie_word_embeddings = true;
    } else if (name == "100m") {
        c.hidden_size = 768; c.intermediate_size = 2048; c.num_layers = 12; c.num_heads = 12; c.num_kv_heads = 4;
        c.vocab_size = 32000; c.tie_word_embeddings = true;
    } else if (name == "1b") {
        c.hidden_size = 2048; c.intermediate_size = 8192; c.num_layers = 16; c.num_heads = 32; c.num_kv_heads = 8;
        c.vocab_size = 32000; c.tie_word_embeddings = true;
    } else if (name == "8b") {  // Llama-3-8B's shapes (issue 20's GPU scoring target): 8.03B parameters, untied
        c.hidden_size = 4096; c.intermediate_size = 14336; c.num_layers = 32; c.num_heads = 32; c.num_kv_heads = 8;
        c.vocab_size = 128256; c.tie_word_embeddings = false;
        c.rope_theta = 500000.0;
        c.max_position_embeddings = 8192;
    } else {
        fail("synthetic model", "unknown preset '" + name + "' (tiny, 100m, 1b, 8b)");
    }
    c.head_dim = c.hidden_size / c.num_heads;
    return s;
}

namespace {

struct Planned {
    std::string name;
    std::vector<int64_t> shape;
    bool is_norm = false;
    int64_t numel() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

std::vector<Planned> plan_tensors(const SyntheticSpec& s) {
    const auto& c = s.config;
    const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
    std::vector<Planned> t;
    t.push_back({TensorNames::embed(), {V, H}});
    for (int i = 0; i < c.num_layers; ++i) {
        t.push_back({TensorNames::input_norm(i), {H}, true});
        if (s.packed_qkv) {
            t.push_back({TensorNames::qkv(i), {Q + 2 * KV, H}});
            if (c.attention_bias) t.push_back({TensorNames::layer(i, "self_attn.qkv_proj.bias"), {Q + 2 * KV}});
        } else {
            t.push_back({TensorNames::q(i), {Q, H}});
            t.push_back({TensorNames::k(i), {KV, H}});
            t.push_back({TensorNames::v(i), {KV, H}});
            if (c.attention_bias) {
                t.push_back({TensorNames::q_bias(i), {Q}});
                t.push_back({TensorNames::k_bias(i), {KV}});
                t.push_back({TensorNames::v_bias(i), {KV}});
            }
        }
        if (c.qk_norm) {
            t.push_back({TensorNames::q_norm(i), {c.head_dim}, true});
            t.push_back({TensorNames::k_norm(i), {c.head_dim}, true});
        }
        t.push_back({TensorNames::o(i), {H, Q}});
        t.push_back({TensorNames::post_norm(i), {H}, true});
        if (s.fused_gate_up) {
            t.push_back({TensorNames::gate_up(i), {2 * I, H}});
        } else {
            t.push_back({TensorNames::gate(i), {I, H}});
            t.push_back({TensorNames::up(i), {I, H}});
        }
        t.push_back({TensorNames::down(i), {H, I}});
    }
    t.push_back({TensorNames::final_norm(), {H}, true});
    if (!c.tie_word_embeddings) t.push_back({TensorNames::lm_head(), {V, H}});
    return t;
}

void write_shard(const fs::path& path, const std::vector<Planned>& tensors, const SyntheticSpec& s, std::mt19937_64& rng) {
    const size_t esz = dtype_size(s.dtype);
    json header = json::object();
    header["__metadata__"] = {{"format", "pt"}, {"generator", "mixq synthetic"}};
    uint64_t off = 0;
    for (const auto& t : tensors) {
        const uint64_t n = static_cast<uint64_t>(t.numel()) * esz;
        header[t.name] = {{"dtype", dtype_name(s.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
        off += n;
    }
    std::string h = header.dump();
    while (h.size() % 8 != 0) h.push_back(' ');
    AtomicFileWriter w(path);
    const uint64_t hlen = h.size();
    w.write(&hlen, 8);
    w.write(h.data(), h.size());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> buf;
    std::vector<uint8_t> bytes;
    for (const auto& t : tensors) {
        // Generate in 1M-element chunks so memory stays bounded for vocab-sized matrices.
        const int64_t total = t.numel();
        for (int64_t start = 0; start < total; start += (1 << 20)) {
            const int64_t n = std::min<int64_t>(1 << 20, total - start);
            buf.resize(static_cast<size_t>(n));
            for (auto& x : buf) x = t.is_norm ? 1.0f + 0.1f * normal(rng) : s.init_std * normal(rng);
            bytes.resize(static_cast<size_t>(n) * esz);
            convert_from_f32(s.dtype, buf.data(), bytes.data(), buf.size());
            w.write(bytes.data(), bytes.size());
        }
    }
    w.commit();
}

void copy_file_into(const fs::path& src, const fs::path& dst) {
    std::error_code ec;
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    if (ec) fail(dst.string(), "cannot copy " + src.string() + ": " + ec.message());
}

}  // namespace

int64_t write_synthetic_model(const fs::path& dir, const SyntheticSpec& spec) {
    const auto tensors = plan_tensors(spec);
    AtomicDirectory out(dir);
    const fs::path tmp = out.temp_dir();
    ModelConfig cfg = spec.config;  // config.json names the dtype the weights are written in
    cfg.torch_dtype = spec.dtype == DType::BF16 ? "bfloat16" : spec.dtype == DType::F16 ? "float16" : "float32";
    write_file_atomic(tmp / "config.json", model_config_to_json(cfg));
    const fs::path demo = demo_model_path();
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
        if (fs::exists(demo / f)) copy_file_into(demo / f, tmp / f);
    std::mt19937_64 rng(spec.seed);
    int64_t params = 0;
    for (const auto& t : tensors) params += t.numel();
    if (spec.shards <= 1) {
        write_shard(tmp / "model.safetensors", tensors, spec, rng);
    } else {
        json index;
        index["metadata"] = {{"total_size", params * static_cast<int64_t>(dtype_size(spec.dtype))}};
        index["weight_map"] = json::object();
        const size_t per = (tensors.size() + spec.shards - 1) / spec.shards;
        for (int s = 0; s < spec.shards; ++s) {
            char name[64];
            std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, spec.shards);
            std::vector<Planned> part;
            for (size_t i = s * per; i < std::min(tensors.size(), (s + 1) * per); ++i) {
                part.push_back(tensors[i]);
                index["weight_map"][tensors[i].name] = name;
            }
            write_shard(tmp / name, part, spec, rng);
        }
        write_file_atomic(tmp / "model.safetensors.index.json", index.dump(2));
    }
    out.commit();
    return params;
}

}  // namespace mixq::io
