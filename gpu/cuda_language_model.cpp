// SPDX-License-Identifier: MIT
// CudaLanguageModel sessions over one shared CudaDecoder (prefix truncation + replay).
#include "gpu/cuda_language_model.h"

#include <algorithm>

#include "core/common/error.h"

namespace mixq::gpu {

struct CudaLanguageModel::Shared {
    std::unique_ptr<CudaDecoder> dec;
    std::vector<int> cached;  ///< ids at positions 0 .. dec->length()

    /// Brings the cache to exactly `ids` (a truncation to the common prefix, then the rest fed).
    void seek(const std::vector<int>& ids) {
        size_t c = 0;
        while (c < ids.size() && c < cached.size() && ids[c] == cached[c]) ++c;
        dec->truncate(static_cast<int>(c));
        cached.resize(c);
        if (c < ids.size()) {
            const std::vector<int> rest(ids.begin() + static_cast<std::ptrdiff_t>(c), ids.end());
            dec->forward_last(rest);
            cached.insert(cached.end(), rest.begin(), rest.end());
        }
    }
};

namespace {

class CudaSession : public engine::LmSession {
public:
    CudaSession(std::shared_ptr<CudaLanguageModel::Shared> s, int capacity) : m_s(std::move(s)), m_capacity(capacity) {}
    engine::RowMatrix feed(const std::vector<int>& ids) override {
        if (static_cast<int>(m_ids.size() + ids.size()) > m_capacity)
            fail("session", "sequence of " + std::to_string(m_ids.size() + ids.size()) +
                                " positions exceeds the session capacity " + std::to_string(m_capacity));
        m_s->seek(m_ids);
        auto out = m_s->dec->forward(ids);
        m_s->cached.insert(m_s->cached.end(), ids.begin(), ids.end());
        m_ids.insert(m_ids.end(), ids.begin(), ids.end());
        return out;
    }
    int length() const override { return static_cast<int>(m_ids.size()); }
    std::unique_ptr<engine::LmSession> fork() const override { return std::make_unique<CudaSession>(*this); }

private:
    std::shared_ptr<CudaLanguageModel::Shared> m_s;
    int m_capacity = 0;
    std::vector<int> m_ids;
};

}  // namespace

CudaLanguageModel::CudaLanguageModel(std::shared_ptr<const io::Model> model, CudaDecoderOptions opt)
    : m(std::make_shared<Shared>()) {
    m->dec = std::make_unique<CudaDecoder>(std::move(model), std::move(opt));
}

int CudaLanguageModel::vocab_size() const { return m->dec->config().vocab_size; }
int CudaLanguageModel::context_length() const { return m->dec->capacity(); }

std::unique_ptr<engine::LmSession> CudaLanguageModel::start(int capacity) {
    if (capacity > m->dec->capacity())
        fail("CudaLanguageModel", "a session of " + std::to_string(capacity) + " positions exceeds the KV cache (" +
                                      std::to_string(m->dec->capacity()) + ")");
    return std::make_unique<CudaSession>(m, capacity);
}

engine::RowMatrix CudaLanguageModel::logits(const std::vector<int>& ids) {
    m->dec->reset();
    m->cached.clear();
    auto out = m->dec->forward(ids);
    m->cached = ids;
    return out;
}

uint64_t CudaLanguageModel::weight_bytes_per_token() { return m->dec->weight_bytes_per_token(); }

CudaDecoderOptions evaluation_decoder_options() {
    CudaDecoderOptions o;
    o.mode = score::MemoryMode::Auto;
    o.weight_dtype = io::DType::F32;
    o.activation_dtype = io::DType::F32;
    o.device = 0;
    return o;
}

}  // namespace mixq::gpu
