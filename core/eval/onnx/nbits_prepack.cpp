// SPDX-License-Identifier: MIT
// MatMulNBits weight prepacking for the int8 kernel (layout in nbits_prepack.h); once per weight, 4 codes at a
// time, panels split over the runner's workers.
#include "core/eval/onnx/nbits_prepack.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/eval/onnx/onnx_graph.h"
#include "core/eval/onnx/runner_threads.h"

namespace mixq::eval::onnx {

std::shared_ptr<const NBitsPacked> nbits_prepack(const NBitsMatrix& w) {
    auto p = std::make_shared<NBitsPacked>();
    p->n = w.n;
    p->k = w.k;
    p->k_blocks = w.k_blocks;
    p->block_size = w.block_size;
    p->bits = w.bits;
    p->has_zp = w.zp_packed != nullptr || w.zp_values != nullptr;
    p->zp_default = w.zp_default;
    p->panels = (w.n + 15) / 16;
    p->code_bytes = 16 * w.block_size * w.bits / 8;
    p->block_bytes = p->code_bytes + 64;
    p->panel_bytes = w.k_blocks * p->block_bytes;
    p->zp_offset = p->panels * p->panel_bytes;
    const size_t total = (p->bytes() + 63) / 64 * 64;
    p->data = {static_cast<uint8_t*>(std::aligned_alloc(64, total)), std::free};
    if (!p->data) throw std::bad_alloc();
    std::memset(p->data.get(), 0, total);
    const bool four = w.bits == 4;
    const int64_t groups = four ? w.block_size / 8 : w.block_size / 4;  // 64-byte groups per panel and block
    // Whole panels per item over the runner's workers: a 7B model's weights are ~10^10 codes.
    parallel_for(p->panels, [&](int64_t pn) {
        for (int64_t b = 0; b < w.k_blocks; ++b) {
            uint8_t* dst = p->data.get() + pn * p->panel_bytes + b * p->block_bytes;
            float* sw = reinterpret_cast<float*>(dst + p->code_bytes);
            for (int64_t c = 0; c < 16; ++c) {
                const int64_t n = pn * 16 + c;
                if (n >= w.n) break;
                const uint8_t* src = w.codes + (n * w.k_blocks + b) * w.blob;
                for (int64_t g = 0; g < groups; ++g) {
                    uint8_t* o = dst + g * 64 + 4 * c;
                    if (four) {
                        // 4 source bytes hold codes n0..n7 of k = 8g..8g+7 (n0 the low nibble of byte 0); the
                        // output bytes are n0|n4<<4, n1|n5<<4, n2|n6<<4, n3|n7<<4.
                        uint32_t v;
                        std::memcpy(&v, src + 4 * g, 4);
                        const uint32_t lo = v & 0x0F0F0F0Fu, hi = (v >> 4) & 0x0F0F0F0Fu;  // n0 n2 n4 n6 / n1 n3 n5 n7
                        o[0] = static_cast<uint8_t>((lo & 0xFF) | ((lo >> 16) & 0xFF) << 4);
                        o[1] = static_cast<uint8_t>((hi & 0xFF) | ((hi >> 16) & 0xFF) << 4);
                        o[2] = static_cast<uint8_t>(((lo >> 8) & 0xFF) | ((lo >> 24) & 0xFF) << 4);
                        o[3] = static_cast<uint8_t>(((hi >> 8) & 0xFF) | ((hi >> 24) & 0xFF) << 4);
                    } else {
                        std::memcpy(o, src + 4 * g, 4);
                    }
                }
                sw[c] = w.scales[n * w.k_blocks + b];
                if (p->has_zp)
                    p->data.get()[p->zp_offset + (pn * w.k_blocks + b) * 16 + c] = static_cast<uint8_t>(w.zero_point(n, b));
            }
        }
    });
    return p;
}

namespace {
struct NodeCache {
    Tensor b, scales, zp;  ///< held: their buffers stay theirs while the packed copy is used
    std::shared_ptr<const NBitsPacked> packed;
};
std::mutex g_cache_mutex;
}  // namespace

std::shared_ptr<const NBitsPacked> nbits_prepacked_for(const Node& node, const NBitsMatrix& w, const Tensor& b,
                                                       const Tensor& scales, const Tensor* zero_points) {
    const uint8_t* zp_bytes = zero_points ? zero_points->bytes() : nullptr;
    {
        std::lock_guard<std::mutex> lock(g_cache_mutex);
        if (auto c = std::static_pointer_cast<const NodeCache>(node.op_cache))
            if (c->b.bytes() == b.bytes() && c->scales.bytes() == scales.bytes() && c->zp.bytes() == zp_bytes &&
                c->packed->n == w.n && c->packed->k == w.k && c->packed->bits == w.bits &&
                c->packed->block_size == w.block_size)
                return c->packed;
    }
    auto c = std::make_shared<NodeCache>();
    c->b = b;
    c->scales = scales;
    if (zero_points) c->zp = *zero_points;
    c->packed = nbits_prepack(w);  // outside the lock: concurrent runs pack twice at worst
    // The kernel reads only the packed copy from now on: drop the file's code pages from resident memory, so an
    // export is held once (packed), not twice. Scales and zero points are small and left as they are.
    b.release_file_pages();
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    node.op_cache = c;
    return c->packed;
}

}  // namespace mixq::eval::onnx
