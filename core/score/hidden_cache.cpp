// SPDX-License-Identifier: MIT
// HiddenCache storage in RAM or as raw fp32 files ([rows, cols] header + data) per (level, sequence).
#include "core/score/hidden_cache.h"

#include <cstdio>
#include <fstream>

#include "core/common/error.h"

namespace mixq::score {
namespace fs = std::filesystem;

HiddenCache::HiddenCache(int levels, int sequences, bool on_disk, const fs::path& dir)
    : m_levels(levels), m_seqs(sequences), m_on_disk(on_disk), m_dir(dir) {
    if (m_on_disk) {
        std::error_code ec;
        fs::create_directories(m_dir, ec);
        if (ec) fail(m_dir.string(), "cannot create offload folder: " + ec.message());
    } else {
        m_ram.assign(levels, std::vector<engine::RowMatrix>(sequences));
    }
}

HiddenCache::~HiddenCache() {
    if (m_on_disk) {
        std::error_code ec;
        fs::remove_all(m_dir, ec);
    }
}

fs::path HiddenCache::file(int level, int seq) const {
    return m_dir / ("h" + std::to_string(level) + "_" + std::to_string(seq) + ".f32");
}

void HiddenCache::put(int level, int seq, const engine::RowMatrix& h) {
    if (!m_on_disk) {
        m_ram[level][seq] = h;
        return;
    }
    const fs::path p = file(level, seq);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    const int64_t dims[2] = {h.rows(), h.cols()};
    out.write(reinterpret_cast<const char*>(dims), sizeof dims);
    out.write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size() * sizeof(float)));
    out.flush();
    if (!out) fail(p.string(), "cannot write offloaded hidden states (disk full?)");
}

engine::RowMatrix HiddenCache::get(int level, int seq) const {
    if (!m_on_disk) return m_ram[level][seq];
    const fs::path p = file(level, seq);
    std::ifstream in(p, std::ios::binary);
    int64_t dims[2] = {0, 0};
    in.read(reinterpret_cast<char*>(dims), sizeof dims);
    engine::RowMatrix h(dims[0], dims[1]);
    in.read(reinterpret_cast<char*>(h.data()), static_cast<std::streamsize>(h.size() * sizeof(float)));
    if (!in) fail(p.string(), "cannot read offloaded hidden states");
    return h;
}

}  // namespace mixq::score
