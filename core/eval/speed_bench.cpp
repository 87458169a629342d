// SPDX-License-Identifier: MIT
// run_speed_bench: warm-up, timed prefill and greedy-ish decode runs (deterministic token ids), medians.
#include "core/eval/speed_bench.h"

#include <algorithm>
#include <chrono>

#include "core/common/memory_bandwidth.h"

namespace mixq::eval {

namespace {
double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}
}  // namespace

void LanguageModelSession::reset() { m_session = m_lm.start(m_capacity); }

engine::RowMatrix LanguageModelSession::feed(const std::vector<int>& ids) {
    if (!m_session) reset();
    return m_session->feed(ids);
}

uint64_t LanguageModelSession::weight_bytes_per_token() const { return m_lm.weight_bytes_per_token(); }

SpeedResult run_speed_bench(DecoderSession& s, int prompt_tokens, int decode_tokens, int runs, int vocab,
                            const JobContext& job) {
    SpeedResult r;
    r.prompt_tokens = prompt_tokens;
    r.decode_tokens = decode_tokens;
    r.runs = runs;
    r.device = s.device();
    r.threads = s.threads();
    std::vector<int> prompt(static_cast<size_t>(prompt_tokens));
    for (int i = 0; i < prompt_tokens; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 13) % std::max(vocab, 1);
    std::vector<double> pre, dec;
    for (int run = 0; run <= runs; ++run) {  // run 0 is the warm-up
        job.report(static_cast<double>(run) / (runs + 1), "speed", "run " + std::to_string(run));
        s.reset();
        const auto t0 = std::chrono::steady_clock::now();
        engine::RowMatrix logits = s.feed(prompt);
        const auto t1 = std::chrono::steady_clock::now();
        for (int i = 0; i < decode_tokens; ++i) {
            Eigen::Index next;
            logits.row(logits.rows() - 1).maxCoeff(&next);
            logits = s.feed({static_cast<int>(next)});
            job.check_cancel();
        }
        const auto t2 = std::chrono::steady_clock::now();
        if (run == 0) continue;
        pre.push_back(prompt_tokens / std::chrono::duration<double>(t1 - t0).count());
        if (decode_tokens > 0) dec.push_back(decode_tokens / std::chrono::duration<double>(t2 - t1).count());
    }
    r.prefill_tokens_per_s = median(pre);
    r.decode_tokens_per_s = median(dec);
    r.peak_rss = peak_rss_bytes();  // before the bandwidth probe, whose 512 MiB buffer is not the model's
    const double device_bandwidth = s.bound_bandwidth();
    r.bandwidth_bytes_per_s = device_bandwidth > 0 ? device_bandwidth : measure_read_bandwidth();
    r.weight_bytes_per_token = s.weight_bytes_per_token();
    if (r.weight_bytes_per_token > 0)
        r.decode_bound_tokens_per_s = r.bandwidth_bytes_per_s / static_cast<double>(r.weight_bytes_per_token);
    job.report(1.0, "speed");
    return r;
}

}  // namespace mixq::eval
