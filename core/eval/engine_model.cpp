// SPDX-License-Identifier: MIT
// EngineModel: Transformer::forward with a KVCache per session.
#include "core/eval/engine_model.h"

#include "core/common/error.h"

namespace mixq::eval {
namespace {

class EngineSession : public engine::LmSession {
public:
    EngineSession(engine::Transformer& tf, int capacity) : m_tf(tf), m_cache(tf.make_cache(capacity)) {}
    EngineSession(const EngineSession& o) : m_tf(o.m_tf) {
        // Copy only the filled rows of each layer (the cache may be much larger than what is used).
        m_cache.reset(static_cast<int>(o.m_cache.k.size()), o.m_cache.capacity(),
                      o.m_cache.k.empty() ? 0 : static_cast<int>(o.m_cache.k[0].cols()));
        for (size_t l = 0; l < o.m_cache.k.size(); ++l) {
            m_cache.k[l].topRows(o.m_cache.length) = o.m_cache.k[l].topRows(o.m_cache.length);
            m_cache.v[l].topRows(o.m_cache.length) = o.m_cache.v[l].topRows(o.m_cache.length);
        }
        m_cache.length = o.m_cache.length;
    }
    engine::RowMatrix feed(const std::vector<int>& ids) override {
        if (m_cache.length + static_cast<int>(ids.size()) > m_cache.capacity())
            fail("engine session", "feeding " + std::to_string(ids.size()) + " tokens after " +
                                       std::to_string(m_cache.length) + " exceeds the capacity " +
                                       std::to_string(m_cache.capacity()));
        return m_tf.forward(ids, &m_cache);
    }
    int length() const override { return m_cache.length; }
    std::unique_ptr<engine::LmSession> fork() const override { return std::make_unique<EngineSession>(*this); }

private:
    engine::Transformer& m_tf;
    engine::KVCache m_cache;
};

}  // namespace

EngineModel::EngineModel(std::shared_ptr<engine::Transformer> tf) : m_tf(std::move(tf)) {}

int EngineModel::vocab_size() const { return m_tf->config().vocab_size; }
int EngineModel::context_length() const { return m_tf->config().max_position_embeddings; }

std::unique_ptr<engine::LmSession> EngineModel::start(int capacity) {
    if (capacity > context_length())
        fail(m_tf->model().dir().string(), "sequence of " + std::to_string(capacity) +
                                               " positions exceeds the context length " + std::to_string(context_length()));
    return std::make_unique<EngineSession>(*m_tf, std::max(capacity, 1));
}

engine::RowMatrix EngineModel::logits(const std::vector<int>& ids) {
    if (static_cast<int>(ids.size()) > context_length())
        fail(m_tf->model().dir().string(), "sequence of " + std::to_string(ids.size()) +
                                               " tokens exceeds the context length " + std::to_string(context_length()));
    return m_tf->forward(ids);
}

uint64_t EngineModel::weight_bytes_per_token() { return m_tf->decode_weight_bytes(); }

}  // namespace mixq::eval
