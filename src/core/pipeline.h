// Ties one engine's events to the sinks and the flow table, and counts what was written.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "flow/flow_table.h"
#include "flow/flow_writer.h"
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
    void set_flows(FlowConfig cfg, std::unique_ptr<FlowWriter> writer);
    // Called from on_idle (at least every 100 ms on live engines): status lines, rotation.
    void set_ticker(std::function<void(uint64_t now_ns)> tick) { tick_ = std::move(tick); }

    bool on_event(const PacketEvent& ev) override;
    bool on_events(std::span<const PacketEvent> evs) override;
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
    std::unique_ptr<FlowWriter> flow_writer_;
    std::unique_ptr<FlowTable> flows_;
    uint64_t flows_handed_ = 0;
    std::function<void(uint64_t)> tick_;
};

}  // namespace hookdump
