// SPDX-License-Identifier: MIT
// The runner's worker pool (runner_threads.h). One job at a time: a 64-bit ticket holds the job's generation,
// item count and next item, so a worker claims an item with one compare-exchange and a late worker can never claim
// an item of a newer job under an older job's function.
#include "core/eval/onnx/runner_threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define MIXQ_PAUSE() _mm_pause()
#else
#define MIXQ_PAUSE() ((void)0)
#endif

namespace mixq::eval::onnx {
namespace {

// ticket: generation (24 bits) | item count (20 bits) | next item (20 bits).
constexpr int kIdxBits = 20;
constexpr uint64_t kIdxMask = (uint64_t(1) << kIdxBits) - 1;
constexpr int64_t kMaxItems = int64_t(1) << kIdxBits;

uint64_t gen_of(uint64_t t) { return t >> (2 * kIdxBits); }
uint64_t count_of(uint64_t t) { return (t >> kIdxBits) & kIdxMask; }
uint64_t idx_of(uint64_t t) { return t & kIdxMask; }

/// Spinning without yielding for this long first (a job usually follows within a few µs in a decode step).
constexpr int64_t kPureSpinNs = 5000;

int64_t spin_ns() {
    static const int64_t ns = [] {
        const char* e = std::getenv("MIXQ_RUNNER_SPIN_US");
        return (e && *e ? std::max(0L, std::atol(e)) : 100L) * 1000;
    }();
    return ns;
}

/// Set while a thread runs pool items: a parallel_for from inside one runs serially instead of waiting on itself.
thread_local bool t_in_pool = false;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class Pool {
public:
    ~Pool() {
        {
            std::lock_guard<std::mutex> lk(m_mutex);
            m_stop.store(true);
        }
        m_cv.notify_all();
        for (auto& t : m_threads) t.join();
    }

    void run(int64_t n, void (*call)(void*, int64_t), void* ctx, int threads) {
        std::lock_guard<std::mutex> job(m_job_mutex);  // one job at a time (overlapping runs queue here)
        const int workers = std::min<int64_t>(threads, n) - 1;
        ensure(workers);
        m_call = call;
        m_ctx = ctx;
        m_done.store(0, std::memory_order_relaxed);
        m_wanted.store(workers, std::memory_order_relaxed);
        const uint64_t gen = (gen_of(m_ticket.load()) + 1) & ((uint64_t(1) << 24) - 1);
        m_ticket.store((gen << (2 * kIdxBits)) | (uint64_t(n) << kIdxBits), std::memory_order_seq_cst);
        if (m_sleepers.load(std::memory_order_seq_cst) > 0) {
            { std::lock_guard<std::mutex> lk(m_mutex); }
            m_cv.notify_all();
        }
        work(gen);
        // Wait for items other threads claimed (a few µs each): spin briefly, then yield, so a worker preempted
        // mid-item on a loaded machine gets the time slice back sooner.
        const int64_t t0 = now_ns();
        while (m_done.load(std::memory_order_acquire) < n) {
            if (now_ns() - t0 < kPureSpinNs) MIXQ_PAUSE();
            else std::this_thread::yield();
        }
    }

private:
    /// Claims and runs items of job `gen` until none are left; false when the job was already over.
    void work(uint64_t gen) {
        uint64_t t = m_ticket.load(std::memory_order_acquire);
        for (;;) {
            if (gen_of(t) != gen || idx_of(t) >= count_of(t)) return;
            if (!m_ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
            t_in_pool = true;
            m_call(m_ctx, static_cast<int64_t>(idx_of(t)));
            t_in_pool = false;
            m_done.fetch_add(1, std::memory_order_release);
            t = m_ticket.load(std::memory_order_acquire);
        }
    }

    void ensure(int workers) {
        while (static_cast<int>(m_threads.size()) < workers) {
            const int id = static_cast<int>(m_threads.size());
            m_threads.emplace_back([this, id] { loop(id); });
        }
    }

    void loop(int id) {
        uint64_t seen = gen_of(m_ticket.load());
        for (;;) {
            // Spin a bounded time for the next job, then sleep until one comes.
            // Past the first few µs the spin yields between checks: on a loaded machine the time slice goes to
            // whoever can run (often this process's own caller), on an idle one yield returns at once.
            const int64_t t0 = now_ns();
            uint64_t t;
            int64_t waited = 0;
            while (gen_of(t = m_ticket.load(std::memory_order_acquire)) == seen && !m_stop.load(std::memory_order_relaxed) &&
                   (waited = now_ns() - t0) < spin_ns()) {
                if (waited < kPureSpinNs)
                    for (int i = 0; i < 16; ++i) MIXQ_PAUSE();
                else
                    std::this_thread::yield();
            }
            if (gen_of(t) == seen && !m_stop.load()) {
                std::unique_lock<std::mutex> lk(m_mutex);
                m_sleepers.fetch_add(1, std::memory_order_seq_cst);
                m_cv.wait(lk, [&] { return gen_of(m_ticket.load(std::memory_order_seq_cst)) != seen || m_stop.load(); });
                m_sleepers.fetch_sub(1, std::memory_order_seq_cst);
                t = m_ticket.load();
            }
            if (m_stop.load()) return;
            seen = gen_of(t);
            // Only as many workers as the job asked for take part (fewer threads than the pool has).
            if (id < m_wanted.load(std::memory_order_relaxed)) work(seen);
        }
    }

    std::mutex m_job_mutex, m_mutex;
    std::condition_variable m_cv;
    std::vector<std::thread> m_threads;
    std::atomic<uint64_t> m_ticket{0};
    std::atomic<int64_t> m_done{0};
    std::atomic<int> m_wanted{0}, m_sleepers{0};
    std::atomic<bool> m_stop{false};
    void (*m_call)(void*, int64_t) = nullptr;
    void* m_ctx = nullptr;
};

Pool& pool() {
    static Pool p;
    return p;
}

}  // namespace

int runner_threads() { return std::max(1, omp_get_max_threads()); }

void parallel_for_raw(int64_t n, void (*call)(void*, int64_t), void* ctx, int threads) {
    if (n <= 0) return;
    if (threads <= 0) threads = runner_threads();
    if (threads == 1 || n == 1 || n >= kMaxItems || t_in_pool || omp_in_parallel()) {
        for (int64_t i = 0; i < n; ++i) call(ctx, i);
        return;
    }
    pool().run(n, call, ctx, threads);
}

}  // namespace mixq::eval::onnx
