// SPDX-License-Identifier: MIT
// Memory modes for scoring (full, low_memory, offload, multi_gpu, auto), the footprint estimate of each, and
// the auto selection from free memory, with the reason as a log line.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mixq::score {

enum class MemoryMode { Auto, Full, LowMemory, Offload, MultiGpu };
const char* memory_mode_name(MemoryMode m);           ///< "auto", "full", "low_memory", "offload", "multi_gpu"
MemoryMode parse_memory_mode(const std::string& s);  ///< throws mixq::Error on unknown names

/// What scoring keeps in memory, in bytes.
struct Footprint {
    uint64_t weights_fp32 = 0;      ///< every weight resident in fp32 (full)
    uint64_t largest_layer_fp32 = 0;///< one decoder layer in fp32 (low_memory / offload)
    uint64_t head_fp32 = 0;         ///< embedding + lm_head tables in fp32 (needed by every mode)
    uint64_t hidden_cache = 0;      ///< cached residual stream of every layer for the calibration set
    uint64_t ref_logprobs = 0;      ///< cached reference log-probabilities (full only)
    uint64_t working = 0;           ///< variant hidden states + per-sequence scratch

    uint64_t need(MemoryMode m) const;
};

Footprint estimate_footprint(int64_t params, int64_t largest_layer_params, int64_t head_params, int num_layers,
                             int hidden, int vocab, int64_t calib_tokens, int variants_per_layer);

struct MemoryDecision {
    MemoryMode mode = MemoryMode::Full;
    std::string reason;  ///< "memory mode auto-selected: low_memory (free=…, needed=…)"
    /// multi_gpu: decoder layers per device (contiguous ranges, first device also holds the embedding, last the lm_head)
    std::vector<int> layers_per_device;
};

/// Chooses a mode. `device_free` lists the free bytes of each accelerator (empty on CPU, where `host_free` is the
/// budget). With accelerators: full if it fits 85% of device 0; multi_gpu if >1 device and it fits the sum (whole
/// layers per device); low_memory if one layer's working set fits; else offload. On CPU: full, low_memory or offload
/// against 80% of host_free. A requested non-auto mode is kept, with a reason that says it was requested; a requested
/// full mode that needs more than the memory available (host_free, or device_free[0] with accelerators) is refused.
MemoryDecision choose_memory_mode(MemoryMode requested, const Footprint& f, uint64_t host_free,
                                  const std::vector<uint64_t>& device_free, int num_layers, uint64_t layer_bytes);

/// Assigns whole decoder layers to devices in contiguous ranges by budget (never splitting a layer); the first
/// device also carries `first_extra` bytes (embeddings) and the last `last_extra` (lm_head). Throws when they do not fit.
std::vector<int> place_layers(const std::vector<uint64_t>& budgets, int num_layers, uint64_t layer_bytes,
                              uint64_t first_extra, uint64_t last_extra);

/// Bytes available to this process: MemAvailable from /proc/meminfo, capped by what its memory cgroup (v1 or v2)
/// still allows (limit − usage); 0 when unknown.
uint64_t host_available_memory();

std::string format_bytes(uint64_t b);  ///< "1.23 GiB"

}  // namespace mixq::score
