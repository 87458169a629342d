// SPDX-License-Identifier: MIT
// LanguageModel: what evaluation tasks need from a decoder, whichever backend runs it (the CPU engine or the
// ONNX runner): incremental sessions with a KV state that can be forked (a shared prompt computed once and
// continued several ways), logits of whole sequences (one at a time, or several as one batched forward), and what
// the speed benchmark reports.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/batch_seq.h"
#include "core/engine/tensor.h"

namespace mixq::engine {

/// One sequence being decoded: feed() appends tokens and returns their logits [ids.size(), vocab].
class LmSession {
public:
    virtual ~LmSession() = default;
    virtual RowMatrix feed(const std::vector<int>& ids) = 0;
    virtual int length() const = 0;  ///< positions already fed
    /// An independent copy of the KV state (continuing it does not affect this session).
    virtual std::unique_ptr<LmSession> fork() const = 0;
};

class LanguageModel {
public:
    virtual ~LanguageModel() = default;
    virtual std::string backend() const = 0;  ///< "engine" or "onnx-runner"
    virtual int vocab_size() const = 0;
    virtual int context_length() const = 0;  ///< maximum positions
    /// A new empty sequence able to hold `capacity` positions.
    virtual std::unique_ptr<LmSession> start(int capacity) = 0;
    /// Logits [ids.size(), vocab] of a fresh sequence.
    virtual RowMatrix logits(const std::vector<int>& ids) {
        return start(static_cast<int>(ids.size()))->feed(ids);
    }
    /// Logits of several fresh sequences: element i holds rows [seqs[i].first, seqs[i].ids.size()) of sequence i's
    /// logits. A backend that batches natively runs them as one forward (right-padded rows, padding never reaching
    /// the results; or ragged: concatenated, unpadded), or computes shared prefixes once (batch_seq.h); this
    /// default runs one forward each, checking `cancel` between them.
    virtual std::vector<RowMatrix> logits_batch(const std::vector<BatchSeq>& seqs, const CancelToken& cancel) {
        std::vector<RowMatrix> out;
        out.reserve(seqs.size());
        for (const auto& s : seqs) {
            cancel.check();
            const RowMatrix all = logits(s.ids);
            out.push_back(all.bottomRows(all.rows() - s.first));
        }
        return out;
    }
    /// True when logits_batch runs several sequences as one forward (worth batching loglikelihood requests for).
    virtual bool batches_natively() const { return false; }
    /// True when that forward concatenates the rows instead of right-padding them (the CPU engine): it computes
    /// the real positions only, so a forward's size is their sum.
    virtual bool batches_ragged() const { return false; }
    /// Weight bytes read per decoded token (the decode bandwidth bound's numerator).
    virtual uint64_t weight_bytes_per_token() = 0;
};

}  // namespace mixq::engine
