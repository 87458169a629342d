// SPDX-License-Identifier: MIT
// make_decoder_session: CUDA when available, CPU engine fallback with one log line; cuda_decoder_session.
#include "gpu/decoder_session.h"

#include <omp.h>

#include "core/engine/transformer.h"
#include "gpu/cuda_resources.h"

namespace mixq::gpu {

eval::DecoderSession cuda_decoder_session(std::shared_ptr<CudaDecoder> dec, bool last_only) {
    eval::DecoderSession s;
    s.reset = [dec] { dec->reset(); };
    if (last_only)
        s.feed = [dec](const std::vector<int>& ids) { return dec->forward_last(ids); };
    else
        s.feed = [dec](const std::vector<int>& ids) { return dec->forward(ids); };
    s.weight_bytes_per_token = dec->weight_bytes_per_token();
    return s;
}

eval::DecoderSession make_decoder_session(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt, int capacity) {
    eval::DecoderSession s;
    if (cuda_available(nullptr, true)) {  // logs "CUDA unavailable: ...; using the CPU path" once otherwise
        opt.max_positions = capacity;
        const int device = opt.mode == score::MemoryMode::MultiGpu && !opt.devices.empty() ? opt.devices[0] : opt.device;
        s = cuda_decoder_session(std::make_shared<CudaDecoder>(model, opt), false);
        s.device = "cuda:" + std::to_string(device);
        return s;
    }
    auto tf = std::make_shared<engine::Transformer>(model);
    auto cache = std::make_shared<engine::KVCache>(tf->make_cache(capacity));
    s.reset = [tf, cache, capacity] { *cache = tf->make_cache(capacity); };
    s.feed = [tf, cache](const std::vector<int>& ids) { return tf->forward(ids, cache.get()); };
    s.weight_bytes_per_token = tf->decode_weight_bytes();
    s.device = "cpu";
    s.threads = omp_get_max_threads();
    return s;
}

}  // namespace mixq::gpu
