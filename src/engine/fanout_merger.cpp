#include "engine/fanout_merger.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/clock.h"
#include "util/error.h"

namespace hookdump {
namespace {

// An event that owns its bytes, for crossing from a worker thread to the merging thread.
struct OwnedEvent {
    PacketEvent ev;
    std::vector<uint8_t> bytes;
};

// Per-worker queue. The worker's watermark says: nothing older than this will come from me.
struct WorkerQueue {
    std::mutex mu;
    std::condition_variable cv_space;
    std::deque<OwnedEvent> q;
    uint64_t watermark = 0;
    bool done = false;
};

class QueueingHandler final : public EventHandler {
  public:
    QueueingHandler(WorkerQueue& wq, std::condition_variable& cv_data, std::mutex& data_mu,
                    const std::atomic<bool>& stop, uint64_t slack_ns)
        : wq_(wq), cv_data_(cv_data), data_mu_(data_mu), stop_(stop), slack_ns_(slack_ns) {}
    bool on_event(const PacketEvent& ev) override {
        OwnedEvent oe{ev, std::vector<uint8_t>(ev.bytes.begin(), ev.bytes.end())};
        {
            std::unique_lock lock(wq_.mu);
            // Bounded: a slow output pushes back into the ring, where the kernel counts drops.
            wq_.cv_space.wait(lock, [&] { return wq_.q.size() < kMaxQueued || stop_.load(); });
            wq_.q.push_back(std::move(oe));
            wq_.watermark = ev.ts_ns;
        }
        notify();
        return true;
    }
    void on_idle(uint64_t now_ns) override {
        {
            std::lock_guard lock(wq_.mu);
            // The ring was empty for a while: anything still to come is newer than this,
            // minus the time the kernel may hold a packet in a block not yet handed over.
            if (now_ns > slack_ns_ && now_ns - slack_ns_ > wq_.watermark)
                wq_.watermark = now_ns - slack_ns_;
        }
        notify();
    }

    static constexpr size_t kMaxQueued = 65536;

  private:
    void notify() {
        std::lock_guard lock(data_mu_);
        cv_data_.notify_one();
    }
    WorkerQueue& wq_;
    std::condition_variable& cv_data_;
    std::mutex& data_mu_;
    const std::atomic<bool>& stop_;
    uint64_t slack_ns_;
};

}  // namespace

void merge_sources(size_t n, const SourceRunner& run_source, EventHandler& handler,
                   const std::atomic<bool>& stop, uint64_t slack_ns) {
    std::vector<WorkerQueue> queues(n);
    std::condition_variable cv_data;
    std::mutex data_mu;
    std::atomic<bool> stop_workers{false};
    std::atomic<bool> any_failed{false};
    std::string failure;
    std::mutex failure_mu;
    std::vector<std::unique_ptr<QueueingHandler>> handlers;
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) {
        handlers.push_back(
            std::make_unique<QueueingHandler>(queues[i], cv_data, data_mu, stop_workers, slack_ns));
        threads.emplace_back([&, i] {
            try {
                run_source(i, *handlers[i], stop_workers);
            } catch (const std::exception& e) {
                std::lock_guard lock(failure_mu);
                failure = e.what();
                any_failed = true;
            }
            {
                std::lock_guard lock(queues[i].mu);
                queues[i].done = true;
                queues[i].watermark = UINT64_MAX;
            }
            std::lock_guard lock(data_mu);
            cv_data.notify_one();
        });
    }

    // Asks the workers to drain their rings and finish; their queues are still merged.
    auto ask_workers_to_stop = [&] {
        if (stop_workers.exchange(true)) return;
        for (auto& q : queues) {
            std::lock_guard lock(q.mu);
            q.cv_space.notify_all();
        }
    };
    auto stop_all = [&] {
        ask_workers_to_stop();
        for (auto& t : threads) t.join();
    };

    bool go_on = true;
    uint64_t last_idle = 0;
    try {
        while (go_on) {
            // Pick the oldest head among the queues, if every other queue's watermark is past it.
            size_t best = n;
            uint64_t best_ts = UINT64_MAX;
            uint64_t min_mark = UINT64_MAX;
            bool all_done = true;
            for (size_t i = 0; i < n; ++i) {
                std::lock_guard lock(queues[i].mu);
                all_done = all_done && queues[i].done && queues[i].q.empty();
                if (!queues[i].q.empty()) {
                    if (queues[i].q.front().ev.ts_ns < best_ts) {
                        best_ts = queues[i].q.front().ev.ts_ns;
                        best = i;
                    }
                } else if (queues[i].watermark < min_mark) {
                    min_mark = queues[i].watermark;
                }
            }
            if (all_done) break;
            // On a stop request (or a failed worker) the workers read what their rings still
            // hold and finish (watermark: infinity); the merge goes on until every queue is
            // empty, in time order still.
            if (stop.load(std::memory_order_relaxed) || any_failed.load()) ask_workers_to_stop();
            if (best < n && best_ts <= min_mark) {
                OwnedEvent oe;
                {
                    std::lock_guard lock(queues[best].mu);
                    oe = std::move(queues[best].q.front());
                    queues[best].q.pop_front();
                    queues[best].cv_space.notify_one();
                }
                oe.ev.bytes = oe.bytes;
                go_on = handler.on_event(oe.ev);
                continue;
            }
            const uint64_t now = realtime_ns();
            if (now - last_idle >= 100'000'000) {
                handler.on_idle(now);
                last_idle = now;
            }
            std::unique_lock lock(data_mu);
            cv_data.wait_for(lock, std::chrono::milliseconds(20));
        }
    } catch (...) {
        stop_all();
        throw;
    }
    stop_all();
    if (any_failed) throw RuntimeError(failure);
}

}  // namespace hookdump
