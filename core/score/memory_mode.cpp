// SPDX-License-Identifier: MIT
// Footprint estimates, auto memory-mode selection and whole-layer multi-device placement.
#include "core/score/memory_mode.h"

#include <fstream>
#include <vector>
#include <algorithm>

#include "core/common/error.h"

namespace mixq::score {

const char* memory_mode_name(MemoryMode m) {
    switch (m) {
        case MemoryMode::Auto: return "auto";
        case MemoryMode::Full: return "full";
        case MemoryMode::LowMemory: return "low_memory";
        case MemoryMode::Offload: return "offload";
        case MemoryMode::MultiGpu: return "multi_gpu";
    }
    return "?";
}

MemoryMode parse_memory_mode(const std::string& s) {
    for (auto m : {MemoryMode::Auto, MemoryMode::Full, MemoryMode::LowMemory, MemoryMode::Offload, MemoryMode::MultiGpu})
        if (s == memory_mode_name(m)) return m;
    fail("", "unknown memory mode '" + s + "' (auto, full, low_memory, offload, multi_gpu)");
}

uint64_t Footprint::full_weights() const {
    switch (held) {
        case WeightsHeld::Fp32: return weights_fp32;
        case WeightsHeld::HostFp32: return host_fp32;
        case WeightsHeld::HostInPlace: return host_in_place;
    }
    return weights_fp32;
}

uint64_t Footprint::need(MemoryMode m) const {
    switch (m) {
        case MemoryMode::Full:
        case MemoryMode::MultiGpu: return full_weights() + hidden_cache + ref_logprobs + working;
        case MemoryMode::LowMemory: return largest_layer_fp32 + head_fp32 + hidden_cache + working;
        case MemoryMode::Offload: return largest_layer_fp32 + head_fp32 + working;
        case MemoryMode::Auto: break;
    }
    return 0;
}

Footprint estimate_footprint(int64_t params, int64_t largest_layer_params, int64_t head_params, int num_layers,
                             int hidden, int vocab, int64_t calib_tokens, int variants_per_layer,
                             const HostWeights& host) {
    Footprint f;
    f.weights_fp32 = static_cast<uint64_t>(params) * 4;
    const auto under_test = static_cast<uint64_t>(std::max(host.largest_unit_params, host.largest_table_params)) * 4;
    f.host_fp32 = host.stored_bytes + f.weights_fp32 + 3 * under_test;
    f.host_in_place = host.stored_bytes + static_cast<uint64_t>(head_params) * 4 + 3 * under_test;
    f.largest_layer_fp32 = static_cast<uint64_t>(largest_layer_params) * 4;
    f.head_fp32 = static_cast<uint64_t>(head_params) * 4;
    f.hidden_cache = static_cast<uint64_t>(calib_tokens) * hidden * 4 * (num_layers + 1);
    f.ref_logprobs = static_cast<uint64_t>(calib_tokens) * vocab * 4;
    // variant hidden states + one sequence's logits/log-probs pair + layer activations (~8 hidden-wide rows)
    f.working = static_cast<uint64_t>(calib_tokens) * hidden * 4 * variants_per_layer +
                static_cast<uint64_t>(vocab) * 4 * 2 * 512 + static_cast<uint64_t>(hidden) * 4 * 8 * 512;
    return f;
}

std::string format_bytes(uint64_t b) {
    char buf[32];
    if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
    else std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
    return buf;
}

std::vector<int> place_layers(const std::vector<uint64_t>& budgets, int num_layers, uint64_t layer_bytes,
                              uint64_t first_extra, uint64_t last_extra) {
    const int n = static_cast<int>(budgets.size());
    if (n == 0) fail("multi_gpu", "no devices to place layers on");
    // Greedy contiguous fill, then check the last device can also take the lm_head; if not, move layers back.
    std::vector<int> counts(n, 0);
    int layer = 0;
    for (int d = 0; d < n && layer < num_layers; ++d) {
        uint64_t used = d == 0 ? first_extra : 0;
        if (used > budgets[d]) fail("multi_gpu", "device 0 cannot hold the embeddings");
        while (layer < num_layers && used + layer_bytes <= budgets[d]) {
            used += layer_bytes;
            ++counts[d];
            ++layer;
        }
    }
    if (layer < num_layers)
        fail("multi_gpu", "the devices' budgets hold " + std::to_string(layer) + " of " + std::to_string(num_layers) +
                              " decoder layers");
    // The last used device carries the lm_head; shift layers to later devices when needed.
    int last = n - 1;
    while (last > 0 && counts[last] == 0) --last;
    auto used_on = [&](int d) {
        return (d == 0 ? first_extra : 0) + static_cast<uint64_t>(counts[d]) * layer_bytes;
    };
    while (used_on(last) + last_extra > budgets[last]) {
        if (last + 1 < n && budgets[last + 1] >= last_extra + layer_bytes) {
            // move one layer from `last` to the next device, which becomes the last
            --counts[last];
            ++counts[last + 1];
            ++last;
        } else {
            fail("multi_gpu", "no device has room for the lm_head after the decoder layers");
        }
    }
    counts.resize(static_cast<size_t>(last + 1));
    return counts;
}

MemoryDecision choose_memory_mode(MemoryMode requested, const Footprint& f, uint64_t host_free,
                                  const std::vector<uint64_t>& device_free, int num_layers, uint64_t layer_bytes) {
    MemoryDecision d;
    auto describe = [&](MemoryMode m, uint64_t budget, const char* what) {
        std::string r = std::string("memory mode ") + what + ": " + memory_mode_name(m) + " (free=" +
                        format_bytes(budget) + ", needed=" + format_bytes(f.need(m));
        const char* held = f.held == WeightsHeld::HostInPlace ? " with 16-bit layers read in place"
                           : f.held == WeightsHeld::HostFp32  ? " with fp32 layer copies"
                                                              : "";
        if (m == MemoryMode::Full || m == MemoryMode::MultiGpu) {
            if (*held) r += ", of which weights " + format_bytes(f.full_weights()) + held;
        } else if (std::string(what) != "requested") {
            r += "; full needs " + format_bytes(f.need(MemoryMode::Full)) + held;
        }
        return r + ")";
    };
    if (requested != MemoryMode::Auto) {
        d.mode = requested;
        const uint64_t budget = device_free.empty() ? host_free : device_free[0];
        d.reason = describe(requested, budget, "requested");
        if (requested == MemoryMode::Full && budget > 0 && f.need(MemoryMode::Full) > budget)
            fail("memory mode full", "needs " + format_bytes(f.need(MemoryMode::Full)) + " but only " +
                                         format_bytes(budget) + (device_free.empty() ? " of RAM" : " of device memory") +
                                         " is available; use --memory low_memory or offload");
        if (requested == MemoryMode::MultiGpu) {
            if (device_free.size() < 2) fail("multi_gpu", "needs at least two GPUs, found " + std::to_string(device_free.size()));
            std::vector<uint64_t> budgets;
            for (auto b : device_free) budgets.push_back(b * 85 / 100);
            d.layers_per_device = place_layers(budgets, num_layers, layer_bytes, f.head_fp32 / 2, f.head_fp32 / 2);
        }
        return d;
    }
    if (device_free.empty()) {
        const uint64_t budget = host_free * 8 / 10;
        for (auto m : {MemoryMode::Full, MemoryMode::LowMemory, MemoryMode::Offload})
            if (f.need(m) <= budget || m == MemoryMode::Offload) {
                d.mode = m;
                d.reason = describe(m, host_free, "auto-selected");
                return d;
            }
    }
    std::vector<uint64_t> budgets;
    uint64_t total = 0;
    for (auto b : device_free) {
        budgets.push_back(b * 85 / 100);
        total += b * 85 / 100;
    }
    if (f.need(MemoryMode::Full) <= budgets[0]) {
        d.mode = MemoryMode::Full;
        d.reason = describe(d.mode, device_free[0], "auto-selected");
    } else if (budgets.size() > 1 && f.need(MemoryMode::Full) <= total) {
        try {
            d.layers_per_device = place_layers(budgets, num_layers, layer_bytes, f.head_fp32 / 2, f.head_fp32 / 2);
            d.mode = MemoryMode::MultiGpu;
            d.reason = describe(d.mode, total, "auto-selected");
        } catch (const Error&) {
            d.mode = MemoryMode::LowMemory;
        }
    } else {
        d.mode = f.need(MemoryMode::LowMemory) <= budgets[0] ? MemoryMode::LowMemory : MemoryMode::Offload;
    }
    if (d.reason.empty()) d.reason = describe(d.mode, device_free[0], "auto-selected");
    return d;
}

namespace {

uint64_t read_u64(const std::string& path, bool& ok) {
    std::ifstream in(path);
    std::string text;
    ok = static_cast<bool>(in >> text) && !text.empty() && text != "max" &&
         text.find_first_not_of("0123456789") == std::string::npos;
    return ok ? std::stoull(text) : 0;
}

/// Bytes the memory cgroup of this process still allows (limit − usage), or UINT64_MAX when it sets no limit.
/// cgroup v2 (memory.max / memory.current) and v1 (memory.limit_in_bytes / memory.usage_in_bytes); the process's
/// own group from /proc/self/cgroup, else the group at the mount root (a container's namespace root).
uint64_t cgroup_headroom() {
    std::vector<std::pair<std::string, std::string>> groups;  // (mount dir, group path)
    std::ifstream cg("/proc/self/cgroup");
    std::string line;
    while (std::getline(cg, line)) {
        const auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (controllers == "memory") groups.push_back({"/sys/fs/cgroup/memory", path});
        else if (controllers.empty()) {
            groups.push_back({"/sys/fs/cgroup", path});
            groups.push_back({"/sys/fs/cgroup/unified", path});
        }
    }
    uint64_t best = UINT64_MAX;
    for (const auto& [mount, path] : groups)
        for (const std::string& dir : {mount + path, mount}) {
            bool ok_l = false, ok_u = false;
            uint64_t limit = read_u64(dir + "/memory.max", ok_l), usage = 0;
            if (ok_l) usage = read_u64(dir + "/memory.current", ok_u);
            else {
                limit = read_u64(dir + "/memory.limit_in_bytes", ok_l);
                usage = read_u64(dir + "/memory.usage_in_bytes", ok_u);
            }
            if (!ok_l || !ok_u || limit >= (uint64_t(1) << 60)) continue;  // no limit here
            best = std::min(best, limit > usage ? limit - usage : 0);
            break;  // the process's own group decides for this hierarchy
        }
    return best;
}

}  // namespace

uint64_t host_available_memory() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t value = 0, avail = 0;
    std::string unit;
    while (in >> key >> value >> unit)
        if (key == "MemAvailable:") {
            avail = value * 1024;
            break;
        }
    const uint64_t cg = cgroup_headroom();
    return cg == UINT64_MAX ? avail : (avail == 0 ? cg : std::min(avail, cg));
}

}  // namespace mixq::score
