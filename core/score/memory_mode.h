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

/// Figures of what the CPU scorer holds besides fp32 weights (estimate_footprint's in-place and host figures).
struct HostWeights {
    uint64_t stored_bytes = 0;         ///< every tensor at its stored size: the mapped pages full mode keeps touched
    int64_t largest_unit_params = 0;   ///< the largest decoder unit: its members widened, quantized, made dense
    int64_t largest_table_params = 0;  ///< the largest embedding / lm_head table (its variant, copy and difference)
};

/// How the scoring engine holds weights in full mode (set by the engine's caller, ScoringEngine::weights_held).
enum class WeightsHeld {
    Fp32,         ///< every weight in fp32 (a device engine's memory)
    HostFp32,     ///< the CPU engine on fp32 copies of every layer (weights_in_place off, rotation, F32, Fisher)
    HostInPlace,  ///< the CPU engine reading 16-bit decoder layers in place from the mapped file
};

/// What scoring keeps in memory, in bytes.
struct Footprint {
    uint64_t weights_fp32 = 0;      ///< every weight resident in fp32 (full, WeightsHeld::Fp32)
    /// The CPU engine's full mode on fp32 layer copies: the mapped file's pages they were read from, every weight
    /// in fp32, and the fp32 working copies of the unit or table under test (three of the largest: weight,
    /// variant, and the dense copy or difference).
    uint64_t host_fp32 = 0;
    /// The CPU engine's full mode reading 16-bit layers in place: the mapped pages, the fp32 head tables (the
    /// lm_head and embedding the scorer compares against), and the same working copies.
    uint64_t host_in_place = 0;
    WeightsHeld held = WeightsHeld::Fp32;
    uint64_t largest_layer_fp32 = 0;///< one decoder layer in fp32 (low_memory / offload)
    uint64_t head_fp32 = 0;         ///< embedding + lm_head tables in fp32 (needed by every mode)
    uint64_t hidden_cache = 0;      ///< cached residual stream of every layer for the calibration set
    uint64_t ref_logprobs = 0;      ///< cached reference log-probabilities (full only)
    uint64_t working = 0;           ///< variant hidden states + per-sequence scratch

    uint64_t need(MemoryMode m) const;
    /// Bytes of weights full mode holds, as `held` says.
    uint64_t full_weights() const;
};

/// `host` empty (the default): host_fp32 = weights_fp32 and host_in_place = head_fp32 (no stored or working bytes).
Footprint estimate_footprint(int64_t params, int64_t largest_layer_params, int64_t head_params, int num_layers,
                             int hidden, int vocab, int64_t calib_tokens, int variants_per_layer,
                             const HostWeights& host = {});

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
