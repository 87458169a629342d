// SPDX-License-Identifier: MIT
// Model::open: config + weights + tensor presence/shape checks + the linear-layer and quantization-unit layout.
#include "core/io/model.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/common/error.h"
#include "core/io/data_dir.h"
#include "core/common/input_file.h"
#include "core/io/tensor_ledger.h"

namespace mixq::io {
namespace fs = std::filesystem;

const char* linear_role_name(LinearRole r) {
    switch (r) {
        case LinearRole::Q: return "q";
        case LinearRole::K: return "k";
        case LinearRole::V: return "v";
        case LinearRole::QKV: return "qkv";
        case LinearRole::O: return "o";
        case LinearRole::Gate: return "gate";
        case LinearRole::Up: return "up";
        case LinearRole::GateUp: return "gate_up";
        case LinearRole::Down: return "down";
        case LinearRole::LmHead: return "lm_head";
        case LinearRole::Embedding: return "embed";
    }
    return "?";
}

const char* unit_kind_name(UnitKind k) {
    switch (k) {
        case UnitKind::QKV: return "qkv";
        case UnitKind::O: return "o";
        case UnitKind::GateUp: return "gate_up";
        case UnitKind::Down: return "down";
        case UnitKind::LmHead: return "lm_head";
        case UnitKind::Embedding: return "embed";
        case UnitKind::TiedEmbedding: return "tied_embed";
    }
    return "?";
}

namespace {

void expect_shape(const TensorStore& w, const std::string& name, std::vector<int64_t> shape, const std::string& dir,
                  TensorLedger& ledger) {
    if (!w.has(name)) fail(dir, "tensor '" + name + "' is missing from the safetensors files");
    ledger.take(name);
    const auto& info = w.info(name);
    if (info.shape != shape) {
        auto str = [](const std::vector<int64_t>& s) {
            std::string o = "[";
            for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
            return o + "]";
        };
        fail(ledger.file_of(name), "tensor '" + name + "' has shape " + str(info.shape) + ", config.json implies " + str(shape));
    }
}

LinearTensor linear(const std::string& name, LinearRole role, int layer, int64_t n, int64_t k) {
    LinearTensor t;
    t.name = name;
    t.role = role;
    t.layer = layer;
    t.out_features = n;
    t.in_features = k;
    return t;
}

}  // namespace

std::shared_ptr<Model> Model::open(const fs::path& dir_in) {
    const fs::path dir = fs::absolute(dir_in).lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        fail(dir.string(), ec.value() == ELOOP ? "a symbolic link loop (too many levels of symbolic links)" : "not a folder");
    // symlink_status: a dangling or looping config.json link is reported by the reader, not taken as absent.
    if (!fs::exists(fs::symlink_status(dir / "config.json", ec)))
        fail((dir / "config.json").string(), "missing (not a Hugging Face model folder?)");
    auto m = std::shared_ptr<Model>(new Model());
    m->m_dir = dir;
    m->m_config = load_model_config(dir / "config.json");
    m->m_weights = TensorStore::open_folder(dir);
    const ModelConfig& c = m->m_config;
    const TensorStore& w = *m->m_weights;
    const std::string d = dir.string();
    const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KV = c.kv_dim();
    const std::string cfg_path = (dir / "config.json").string();
    TensorLedger ledger(w, cfg_path);

    expect_shape(w, TensorNames::embed(), {V, H}, d, ledger);
    expect_shape(w, TensorNames::final_norm(), {H}, d, ledger);
    m->m_weight_dtype = w.info(TensorNames::embed()).dtype;
    if (!c.torch_dtype.empty()) {
        const std::string file_dtype = m->m_weight_dtype == DType::BF16 ? "bfloat16"
                                       : m->m_weight_dtype == DType::F16 ? "float16" : "float32";
        if (file_dtype != c.torch_dtype)
            fail(ledger.file_of(TensorNames::embed()), "tensor '" + TensorNames::embed() + "' is " +
                                                           dtype_name(m->m_weight_dtype) + " but " + cfg_path + " has " +
                                                           c.sources.at("dtype") + " '" + c.torch_dtype + "'");
    }
    ModelLayout& L = m->m_layout;
    L.packed_qkv = w.has(TensorNames::qkv(0));
    L.fused_gate_up = w.has(TensorNames::gate_up(0));
    // Tying follows tie_word_embeddings, as in transformers: a tied model's lm_head tensor is ignored (and said so),
    // an untied model without one is refused.
    L.tied_embeddings = c.tie_word_embeddings;
    if (L.tied_embeddings && w.has(TensorNames::lm_head())) {
        ledger.take(TensorNames::lm_head());
        L.ignored.push_back({TensorNames::lm_head(), "tie_word_embeddings is true (" + c.sources.at("tie_word_embeddings") +
                                                         "): the embedding table is the lm_head, as in transformers"});
    }
    if (!L.tied_embeddings) {
        if (!w.has(TensorNames::lm_head()))
            fail(cfg_path, "tie_word_embeddings is false (" + c.sources.at("tie_word_embeddings") +
                               ") but tensor 'lm_head.weight' is missing from the safetensors files");
        expect_shape(w, TensorNames::lm_head(), {V, H}, d, ledger);
    }
    // Old checkpoints carry RoPE's inv_freq buffers; transformers recomputes them from the config and ignores these.
    for (const auto& t : w.tensors()) {
        const std::string suffix = "rotary_emb.inv_freq";
        if (t.name.size() >= suffix.size() && t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            ledger.take(t.name);
            L.ignored.push_back({t.name, "RoPE buffer: recomputed from config.json, as transformers does"});
        }
    }

    for (int i = 0; i < c.num_layers; ++i) {
        expect_shape(w, TensorNames::input_norm(i), {H}, d, ledger);
        expect_shape(w, TensorNames::post_norm(i), {H}, d, ledger);
        QuantUnit qkv{"layers." + std::to_string(i) + ".qkv", UnitKind::QKV, i, {}};
        if (L.packed_qkv) {
            expect_shape(w, TensorNames::qkv(i), {Q + 2 * KV, H}, d, ledger);
            qkv.members.push_back(linear(TensorNames::qkv(i), LinearRole::QKV, i, Q + 2 * KV, H));
        } else {
            expect_shape(w, TensorNames::q(i), {Q, H}, d, ledger);
            expect_shape(w, TensorNames::k(i), {KV, H}, d, ledger);
            expect_shape(w, TensorNames::v(i), {KV, H}, d, ledger);
            qkv.members.push_back(linear(TensorNames::q(i), LinearRole::Q, i, Q, H));
            qkv.members.push_back(linear(TensorNames::k(i), LinearRole::K, i, KV, H));
            qkv.members.push_back(linear(TensorNames::v(i), LinearRole::V, i, KV, H));
        }
        if (c.attention_bias && L.packed_qkv) {
            expect_shape(w, TensorNames::layer(i, "self_attn.qkv_proj.bias"), {Q + 2 * KV}, d, ledger);
        } else if (c.attention_bias) {
            expect_shape(w, TensorNames::q_bias(i), {Q}, d, ledger);
            expect_shape(w, TensorNames::k_bias(i), {KV}, d, ledger);
            expect_shape(w, TensorNames::v_bias(i), {KV}, d, ledger);
        }
        if (c.qk_norm) {
            expect_shape(w, TensorNames::q_norm(i), {c.head_dim}, d, ledger);
            expect_shape(w, TensorNames::k_norm(i), {c.head_dim}, d, ledger);
        }
        expect_shape(w, TensorNames::o(i), {H, Q}, d, ledger);
        QuantUnit o{"layers." + std::to_string(i) + ".o", UnitKind::O, i, {linear(TensorNames::o(i), LinearRole::O, i, H, Q)}};
        QuantUnit gu{"layers." + std::to_string(i) + ".gate_up", UnitKind::GateUp, i, {}};
        if (L.fused_gate_up) {
            expect_shape(w, TensorNames::gate_up(i), {2 * I, H}, d, ledger);
            gu.members.push_back(linear(TensorNames::gate_up(i), LinearRole::GateUp, i, 2 * I, H));
        } else {
            expect_shape(w, TensorNames::gate(i), {I, H}, d, ledger);
            expect_shape(w, TensorNames::up(i), {I, H}, d, ledger);
            gu.members.push_back(linear(TensorNames::gate(i), LinearRole::Gate, i, I, H));
            gu.members.push_back(linear(TensorNames::up(i), LinearRole::Up, i, I, H));
        }
        expect_shape(w, TensorNames::down(i), {H, I}, d, ledger);
        QuantUnit down{"layers." + std::to_string(i) + ".down", UnitKind::Down, i,
                       {linear(TensorNames::down(i), LinearRole::Down, i, H, I)}};
        for (auto* u : {&qkv, &o, &gu, &down}) {
            for (const auto& t : u->members) L.linears.push_back(t);
            L.units.push_back(*u);
        }
    }
    const LinearTensor embed = linear(TensorNames::embed(), LinearRole::Embedding, -1, V, H);
    if (L.tied_embeddings) {
        QuantUnit tied{"tied_embedding", UnitKind::TiedEmbedding, -1, {embed}};
        L.linears.push_back(linear(TensorNames::embed(), LinearRole::LmHead, -1, V, H));
        L.units.push_back(tied);
    } else {
        const LinearTensor head = linear(TensorNames::lm_head(), LinearRole::LmHead, -1, V, H);
        L.linears.push_back(head);
        L.units.insert(L.units.begin(), QuantUnit{"embed_tokens", UnitKind::Embedding, -1, {embed}});
        L.units.push_back(QuantUnit{"lm_head", UnitKind::LmHead, -1, {head}});
    }
    ledger.check_all_taken(c);
    return m;
}

int64_t Model::parameter_count() const {
    int64_t n = 0;
    for (const auto& t : m_weights->tensors()) n += t.numel();
    for (const auto& ig : m_layout.ignored) n -= m_weights->info(ig.tensor).numel();  // not part of the model
    return n;
}

std::string Model::unit_of_tensor(const std::string& tensor) const {
    for (const auto& u : m_layout.units)
        for (const auto& mbr : u.members)
            if (mbr.name == tensor) return u.name;
    return {};
}

namespace {
// A fast 64-bit hash over 8-byte words in four independent lanes (multiply-xorshift mixing).
struct Hasher {
    uint64_t lanes[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0x27d4eb2f165667c5ull};
    uint64_t total = 0;
    static uint64_t mix(uint64_t h, uint64_t v) {
        h ^= v * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
        return h * 0xc4ceb9fe1a85ec53ull;
    }
    void update(const uint8_t* p, size_t n) {
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
            uint64_t w[4];
            std::memcpy(w, p + i, 32);
            for (int l = 0; l < 4; ++l) lanes[l] = mix(lanes[l], w[l]);
        }
        for (; i < n; ++i) lanes[0] = mix(lanes[0], p[i]);
        total += n;
    }
    uint64_t digest() const {
        uint64_t h = total;
        for (uint64_t l : lanes) h = mix(h, l);
        return h ^ (h >> 29);
    }
};
}  // namespace

std::string Model::content_hash(const JobContext& job) const {
    if (!m_hash.empty()) return m_hash;
    const double total = static_cast<double>(std::max<uint64_t>(m_weights->total_bytes(), 1));
    double done = 0;
    Hasher h;
    const std::string cfg = read_input_file(m_dir / "config.json", kMaxJsonBytes);
    h.update(reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size());
    for (const auto& t : m_weights->tensors()) {
        h.update(reinterpret_cast<const uint8_t*>(t.name.data()), t.name.size());
        constexpr size_t kChunk = size_t(64) << 20;
        for (size_t off = 0; off < t.nbytes; off += kChunk) {
            const size_t n = std::min(kChunk, t.nbytes - off);
            h.update(m_weights->raw(t) + off, n);
            done += static_cast<double>(n);
            job.report(done / total, "hashing", t.name);
        }
        m_weights->release(t.name);  // hashing touches every page: hand them back so RSS stays bounded
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h.digest()));
    m_hash = buf;
    return m_hash;
}

fs::path demo_model_path() {
    if (const char* env = std::getenv("MIXQ_DEMO_MODEL"); env && *env) return env;
    return data_dir() / "demo-model";
}

}  // namespace mixq::io
