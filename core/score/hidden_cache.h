// SPDX-License-Identifier: MIT
// HiddenCache: the residual stream entering each decoder layer (and the final one) for every calibration sequence,
// kept in RAM (full, low_memory) or in files of a temporary folder (offload), removed when the cache is destroyed.
#pragma once
#include <filesystem>
#include <vector>

#include "core/engine/tensor.h"

namespace mixq::score {

class HiddenCache {
public:
    /// `levels` = num_layers + 1; on_disk: files under `dir` (created, removed on destruction).
    HiddenCache(int levels, int sequences, bool on_disk, const std::filesystem::path& dir);
    ~HiddenCache();
    HiddenCache(const HiddenCache&) = delete;
    HiddenCache& operator=(const HiddenCache&) = delete;

    void put(int level, int seq, const engine::RowMatrix& h);
    engine::RowMatrix get(int level, int seq) const;
    bool on_disk() const { return m_on_disk; }
    const std::filesystem::path& dir() const { return m_dir; }

private:
    int m_levels, m_seqs;
    bool m_on_disk;
    std::filesystem::path m_dir;
    std::vector<std::vector<engine::RowMatrix>> m_ram;  ///< [level][seq]
    std::filesystem::path file(int level, int seq) const;
};

}  // namespace mixq::score
