// Ties one engine's events to the sinks and the flow table, and counts what was written.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "flow/flow_table.h"
#include "sink/flow_sink.h"
#include "sink/sink.h"

namespace hookdump {

// One output's line of the ledger: what it was given and what reached its file.
struct OutputLedger {
    std::string_view unit;  // "packets" or "flows"
    uint64_t handed = 0;
    OutputStats stats;
};

class Pipeline final : public EventHandler {
  public:
    // count 0 means no limit.
    explicit Pipeline(uint64_t count = 0) : count_(count) {}

    void add_sink(std::unique_ptr<Sink> s) { sinks_.push_back(std::move(s)); }
    // Keeps a flow table; its records go to every flow sink added.
    void set_flows(FlowConfig cfg);
    // Each flow sink gets every record and its own line in outputs(). Needs set_flows().
    void add_flow_sink(std::unique_ptr<FlowSink> s) { flow_sinks_.push_back({std::move(s)}); }
    // Called from on_idle (at least every 100 ms on live engines): status lines, rotation.
    void set_ticker(std::function<void(uint64_t now_ns)> tick) { tick_ = std::move(tick); }

    // Reopens the packet files (Sink::reopen) on the next on_idle after `*generation` changed
    // (SIGHUP: logrotate moved them away).
    void watch_reopen(const std::atomic<unsigned>* generation) {
        reopen_ = generation;
        reopen_seen_ = generation ? generation->load() : 0;
    }

    bool on_event(const PacketEvent& ev) override;
    bool on_events(std::span<const PacketEvent> evs) override;
    void prefetch(std::span<const PacketEvent> evs) override {
        if (flows_) flows_->prefetch(evs);
    }
    uint64_t capacity() const override {
        return count_ == 0 ? UINT64_MAX : packets_ < count_ ? count_ - packets_ : 0;
    }
    void on_idle(uint64_t now_ns) override;
    bool wants_parsed() const override;
    void on_flow(const FlowRecord& r) override;

    // Flushes flows and sinks and writes trailers, also after a failed write (what reached
    // the files stays readable); throws RuntimeError on a write error not reported before.
    void finish(const Ledger& ledger);
    // Per output (packets, then flows): given, written, why not.
    std::vector<OutputLedger> outputs() const;
    // Best effort flush after a failure, so that what was written stays readable.
    void abandon() noexcept;

    uint64_t packets() const { return packets_; }
    uint64_t bytes() const { return bytes_; }
    const FlowTable* flows() const { return flows_.get(); }

  private:
    uint64_t count_;
    uint64_t packets_ = 0;
    uint64_t bytes_ = 0;
    std::vector<std::unique_ptr<Sink>> sinks_;
    struct FlowOutput {
        std::unique_ptr<FlowSink> sink;
        bool failed = false;  // threw on a write: given nothing more
    };
    void export_flow(const FlowRecord& r);
    // Throws the first flow sink's error, once.
    void raise_flow_error();

    std::vector<FlowOutput> flow_sinks_;
    std::string flow_error_;
    bool flow_error_thrown_ = false;
    std::unique_ptr<FlowTable> flows_;
    uint64_t flows_handed_ = 0;
    std::function<void(uint64_t)> tick_;
    const std::atomic<unsigned>* reopen_ = nullptr;
    unsigned reopen_seen_ = 0;
};

}  // namespace hookdump
