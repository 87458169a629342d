// SPDX-License-Identifier: MIT
// Fuzz target: config.json and a safetensors header together (io::Model::open), for consistency rather than
// parsing alone. The input is "<config.json> NUL <safetensors header JSON>"; the header is written as
// model.safetensors with a zero-filled data section sized from its largest data_offsets end (at most 4 MiB, else
// the header's own claim is left to be refused). Any input must open or throw mixq::Error; an opened model must
// use every tensor in the file exactly once (the ledger rule of issue 22), agree with config.json on every shape,
// and read its first embedding row.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/common/error.h"
#include "core/io/model.h"

namespace fs = std::filesystem;

namespace {
fs::path g_dir;

void remove_dir() {
    std::error_code ec;
    fs::remove_all(g_dir, ec);
}

void write(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) std::abort();  // the scratch folder must be writable
}

/// The data section size the header asks for: its largest data_offsets end when that is small, else 0.
uint64_t data_size_of(const std::string& header) {
    const auto j = nlohmann::json::parse(header, nullptr, false);
    uint64_t end = 0;
    if (!j.is_object()) return 0;
    for (const auto& [k, v] : j.items()) {
        if (!v.is_object() || !v.contains("data_offsets")) continue;
        const auto& o = v["data_offsets"];
        if (o.is_array() && o.size() == 2 && o[1].is_number_unsigned() && o[1].get<uint64_t>() <= (uint64_t(4) << 20))
            end = std::max(end, o[1].get<uint64_t>());
    }
    return end;
}

/// Tensors the layout consumes: every unit member once (the tied table once), norms, biases, q/k norms, ignored.
size_t expected_tensor_count(const mixq::io::Model& m) {
    const auto& c = m.config();
    const auto& L = m.layout();
    size_t n = 2 + L.ignored.size();  // embedding + final norm
    if (!L.tied_embeddings) n += 1;    // lm_head
    for (int i = 0; i < c.num_layers; ++i) {
        n += 2;                                   // input / post-attention norms
        n += L.packed_qkv ? 1 : 3;                // q|k|v
        n += 1;                                   // o
        n += L.fused_gate_up ? 1 : 2;             // gate|up
        n += 1;                                   // down
        if (c.attention_bias) n += L.packed_qkv ? 1 : 3;
        if (c.qk_norm) n += 2;
    }
    return n;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_dir = fs::temp_directory_path() / ("mixq-fuzz-model-" + std::to_string(getpid()));
    fs::create_directories(g_dir);
    std::atexit(remove_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    const size_t nul = in.find('\0');
    const std::string config = in.substr(0, nul);
    const std::string header = nul == std::string::npos ? std::string("{}") : in.substr(nul + 1);
    write(g_dir / "config.json", config);
    std::string st(8, '\0');
    const uint64_t hlen = header.size();
    std::memcpy(st.data(), &hlen, 8);
    st += header;
    st.append(static_cast<size_t>(data_size_of(header)), '\0');
    write(g_dir / "model.safetensors", st);
    try {
        const auto m = mixq::io::Model::open(g_dir);
        const auto& w = m->weights();
        const auto& c = m->config();
        // Every tensor of the file is used exactly once (or explicitly ignored).
        if (w.tensors().size() != expected_tensor_count(*m)) std::abort();
        // Every planned weight exists with the shape its role implies.
        int64_t planned = 0;
        for (const auto& u : m->layout().units)
            for (const auto& t : u.members) {
                const auto& info = w.info(t.name);
                if (info.shape != std::vector<int64_t>{t.out_features, t.in_features}) std::abort();
                planned += t.numel();
            }
        if (m->layout().units.size() != static_cast<size_t>(4 * c.num_layers + (m->layout().tied_embeddings ? 1 : 2)))
            std::abort();
        if (planned > m->parameter_count()) std::abort();
        if (w.info(mixq::io::TensorNames::embed()).shape != std::vector<int64_t>{c.vocab_size, c.hidden_size}) std::abort();
        std::vector<float> row(static_cast<size_t>(c.hidden_size));
        w.read_rows_f32(mixq::io::TensorNames::embed(), 0, 1, row.data());
        for (float v : row)
            if (v != 0.0f) std::abort();  // the data section is zeros
    } catch (const mixq::Error&) {
    }
    return 0;
}
