// SPDX-License-Identifier: MIT
// CudaDecoderSession, and make_decoder_session: CUDA when available, the CPU engine with one log line otherwise.
#include "gpu/decoder_session.h"

#include <omp.h>

#include "core/eval/engine_model.h"
#include "core/engine/transformer.h"
#include "gpu/cuda_resources.h"
#include "gpu/gpu_bench.h"

namespace mixq::gpu {

CudaDecoderSession::CudaDecoderSession(std::shared_ptr<CudaDecoder> dec, bool last_only, std::string device,
                                       bool device_bandwidth)
    : m_dec(std::move(dec)), m_lastOnly(last_only), m_device(std::move(device)), m_deviceBandwidth(device_bandwidth) {}

void CudaDecoderSession::reset() { m_dec->reset(); }

engine::RowMatrix CudaDecoderSession::feed(const std::vector<int>& ids) {
    return m_lastOnly ? m_dec->forward_last(ids) : m_dec->forward(ids);
}

uint64_t CudaDecoderSession::weight_bytes_per_token() const { return m_dec->weight_bytes_per_token(); }

double CudaDecoderSession::bound_bandwidth() const {
    return m_deviceBandwidth ? measure_d2d_bandwidth(size_t(256) << 20) : 0.0;  // the GPU's HBM, not host DRAM
}

namespace {
struct OwnedEngine {
    std::unique_ptr<eval::EngineModel> lm;
};
/// The CPU fallback: the engine behind a LanguageModelSession. OwnedEngine is the first base, so the model is
/// built before the session that refers to it and outlives it.
class EngineDecoderSession : private OwnedEngine, public eval::LanguageModelSession {
public:
    EngineDecoderSession(std::unique_ptr<eval::EngineModel> model, int capacity)
        : OwnedEngine{std::move(model)}, LanguageModelSession(*lm, capacity, "cpu", omp_get_max_threads()) {}
};
}  // namespace

std::unique_ptr<eval::DecoderSession> make_decoder_session(std::shared_ptr<const io::Model> model,
                                                           CudaDecoderOptions opt, int capacity) {
    if (cuda_available(nullptr, true)) {  // logs "CUDA unavailable: ...; using the CPU path" once otherwise
        opt.max_positions = capacity;
        const int device = opt.mode == score::MemoryMode::MultiGpu && !opt.devices.empty() ? opt.devices[0] : opt.device;
        return std::make_unique<CudaDecoderSession>(std::make_shared<CudaDecoder>(model, opt), false,
                                                    "cuda:" + std::to_string(device), false);
    }
    auto lm = std::make_unique<eval::EngineModel>(std::make_shared<engine::Transformer>(model));
    return std::make_unique<EngineDecoderSession>(std::move(lm), capacity);
}

}  // namespace mixq::gpu
