// SPDX-License-Identifier: MIT
// Prefill and decode throughput of a decoder (median of several runs after a warm-up), with the DRAM-bandwidth
// bound for decode (weight bytes streamed per token ÷ measured read bandwidth).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/common/job.h"
#include "core/engine/tensor.h"

namespace mixq::eval {

/// What a benchmark needs from a model: start a fresh sequence and feed tokens; returns last-row logits.
struct DecoderSession {
    std::function<void()> reset;                                         ///< new empty sequence
    std::function<engine::RowMatrix(const std::vector<int>&)> feed;      ///< append tokens, return logits
    uint64_t weight_bytes_per_token = 0;                                 ///< bytes streamed per decoded token
    std::string device = "cpu";
    int threads = 1;
    /// The decode bound's bandwidth in bytes/s (e.g. a GPU's measured copy bandwidth); null = host DRAM read bandwidth.
    std::function<double()> bandwidth;
};

struct SpeedResult {
    int prompt_tokens = 0;
    int decode_tokens = 0;
    int runs = 0;
    double prefill_tokens_per_s = 0;  ///< median
    double decode_tokens_per_s = 0;   ///< median
    double bandwidth_bytes_per_s = 0; ///< measured DRAM read bandwidth
    double decode_bound_tokens_per_s = 0;  ///< bandwidth / weight bytes per token
    uint64_t weight_bytes_per_token = 0;
    size_t peak_rss = 0;
    std::string device;
    int threads = 1;
};

SpeedResult run_speed_bench(const DecoderSession& s, int prompt_tokens, int decode_tokens, int runs, int vocab,
                            const JobContext& job = null_job());

}  // namespace mixq::eval
