// SPDX-License-Identifier: MIT
// CudaDecoder placement: the memory mode (auto from the device's free memory: full when everything fits in 85% of
// it, else low_memory), the parts (one device, or multi_gpu's contiguous layer ranges by score::place_layers or an
// explicit split), the bytes each part needs, and the one-line description of the result.
#include "gpu/cuda_decoder_impl.h"

#include <algorithm>
#include <map>

#include "core/common/error.h"
#include "gpu/device_info.h"

namespace mixq::gpu {

using namespace decoder_detail;

uint64_t CudaDecoder::Impl::activation_bytes() const {
    const uint64_t es = dsize(act);
    const uint64_t per_tok = static_cast<uint64_t>(H) * 8 + (H + QKV + Q + 3 * I) * es +
                             (act == wdt ? 0 : static_cast<uint64_t>(std::max({H, Q, I})) * dsize(wdt)) + 4;
    return per_tok * chunk + ws_floats * 4 + dequant_scratch_bytes();
}

uint64_t CudaDecoder::Impl::dequant_scratch_bytes() const {
    if (chunk < kDequantGemmRows) return 0;
    uint64_t most = 0;
    auto consider = [&](const LinearSlot& sl) {
        if (sl.quantized) most = std::max<uint64_t>(most, static_cast<uint64_t>(sl.n) * sl.k * dsize(act));
    };
    for (const auto& lay : layouts)
        for (const LinearSlot* sl : {&lay.qkv, &lay.o, &lay.gate_up, &lay.down}) consider(*sl);
    consider(head_slot);
    return most <= kMaxDequantScratch ? most : 0;
}

void CudaDecoder::Impl::place() {
    using score::MemoryMode;
    auto devs = list_devices();
    MemoryMode mode = opt.mode;
    if (mode == MemoryMode::Offload) fail(kWhere, "offload is a CPU mode; use full, low_memory or multi_gpu");
    auto check_dev = [&](int dev) {
        if (dev < 0 || dev >= static_cast<int>(devs.size()))
            fail(kWhere, "cuda:" + std::to_string(dev) + " does not exist (" + std::to_string(devs.size()) + " devices)");
    };
    const uint64_t per_layer = max_bytes + kv_bytes_per_layer();  // placement budgets the largest layer
    const uint64_t heads = embed_bytes() + (head_slot.quantized || !cfg.tie_word_embeddings ? head_slot.read_bytes() : 0);
    if (mode == MemoryMode::Auto) {
        check_dev(opt.device);
        const uint64_t need = static_cast<uint64_t>(L) * per_layer + heads + activation_bytes();
        mode = need <= devs[opt.device].free_bytes * 85 / 100 ? MemoryMode::Full : MemoryMode::LowMemory;
        log(std::string("CudaDecoder: memory mode auto-selected: ") + score::memory_mode_name(mode) + " (free=" +
            score::format_bytes(devs[opt.device].free_bytes) + ", needed=" + score::format_bytes(need) + ")");
    }
    opt.mode = mode;
    if (mode == MemoryMode::Full || mode == MemoryMode::LowMemory) {
        check_dev(opt.device);
        counts = {L};
        parts.resize(1);
        parts[0].device = opt.device;
        parts[0].count = L;
        return;
    }
    // multi_gpu
    std::vector<int> ids = opt.devices;
    if (ids.empty())
        for (const auto& dv : devs) ids.push_back(dv.index);
    for (int dev : ids) check_dev(dev);
    std::vector<uint64_t> budgets = opt.device_budgets;
    if (budgets.empty()) {
        std::map<int, int> uses;
        for (int dev : ids) ++uses[dev];
        for (int dev : ids) budgets.push_back(devs[dev].free_bytes * 85 / 100 / uses[dev]);
    }
    if (budgets.size() != ids.size()) fail(kWhere, "device_budgets needs one entry per device");
    const uint64_t acts = activation_bytes();
    if (!opt.layer_split.empty()) {
        int sum = 0;
        for (int c : opt.layer_split) sum += c < 0 ? -(1 << 30) : c;
        if (opt.layer_split.size() != ids.size() || sum != L)
            fail(kWhere, "layer_split needs one count >= 0 per device, summing to " + std::to_string(L));
        counts = opt.layer_split;
    } else {
        counts = score::place_layers(budgets, L, per_layer, embed_bytes() + acts,
                                     head_slot.read_bytes() + static_cast<uint64_t>(kLogitRows) * V * 4 + acts);
    }
    parts.resize(counts.size());
    int first = 0;
    std::string line = "CudaDecoder multi_gpu:";
    for (size_t i = 0; i < counts.size(); ++i) {
        parts[i].device = ids[i];
        parts[i].first = first;
        parts[i].count = counts[i];
        line += " cuda:" + std::to_string(ids[i]) + " layers " +
                (counts[i] ? std::to_string(first) + "-" + std::to_string(first + counts[i] - 1) : std::string("none")) +
                " (" + std::to_string(counts[i]) + ")" + (i + 1 < counts.size() ? "," : "");
        first += counts[i];
    }
    log(line);
}

void CudaDecoder::Impl::describe_setup() {
    const auto& p0 = parts.front();
    std::string w = opt.quant ? opt.quant->name() + " (scales " + io::dtype_name(sdt) + ")" : std::string(io::dtype_name(wdt));
    if (!opt.layer_formats.empty()) {
        int q4 = 0, q8 = 0, dense = 0;
        for (const auto& lay : layouts)
            for (const LinearSlot* sl : {&lay.qkv, &lay.o, &lay.gate_up, &lay.down})
                (sl->quantized ? (sl->format.bits == 4 ? q4 : q8) : dense)++;
        w = "per-layer plan (" + std::to_string(q4) + " int4, " + std::to_string(q8) + " int8, " +
            std::to_string(dense) + " " + io::dtype_name(wdt) + " linears; scales " + io::dtype_name(sdt) + ")";
    }
    std::string head = head_slot.quantized ? head_slot.format.name() : std::string(io::dtype_name(wdt));
    description = "cuda:" + std::to_string(p0.device) + " " + score::memory_mode_name(opt.mode) + ", weights " + w +
                  " + lm_head " + head + ", activations " + io::dtype_name(act) + ", KV cache " +
                  std::to_string(cap) + " positions, " + mib(weight_bytes) + " of weights read per token";
    log("CudaDecoder: " + description);
}

}  // namespace mixq::gpu
