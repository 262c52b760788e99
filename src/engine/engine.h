// The one engine interface: a source of PacketEvents (a file, a ring, a netlink socket, a
// BPF ring buffer). The CLI picks an engine; sinks never know which one it was.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/ledger.h"
#include "packet/event.h"

namespace hookdump {

struct FlowRecord;

class EventHandler {
  public:
    virtual ~EventHandler() = default;
    // Returns false to stop the engine (a packet count was reached).
    virtual bool on_event(const PacketEvent& ev) = 0;
    // Several events at once (a ring block's worth), in order; the same as on_event on each
    // until one returns false. Handlers override it to save the per-packet calls.
    virtual bool on_events(std::span<const PacketEvent> evs) {
        for (const PacketEvent& ev : evs)
            if (!on_event(ev)) return false;
        return true;
    }
    // The same for events the engine hands over to be changed (its own batch, every field of
    // which it sets again before the next): a handler that fills a field in (ProcAttribution)
    // does it in place instead of copying the batch.
    virtual bool on_events_owned(std::span<PacketEvent> evs) { return on_events(evs); }
    // The events on_event is given next, in order: a hint that lets the handler prefetch the
    // memory they will touch (the flow table's entries). It changes nothing.
    virtual void prefetch(std::span<const PacketEvent> /*evs*/) {}
    // How many more events the handler takes before it asks to stop (a packet count): an
    // engine that batches hands over no more than that, so that its ledger stays exact.
    virtual uint64_t capacity() const { return UINT64_MAX; }
    // Called when the engine has nothing to deliver for a while (live engines), so that
    // outputs can flush and flows can expire.
    virtual void on_idle(uint64_t /*now_ns*/) {}
    // False when nothing downstream reads PacketEvent::parsed (only bytes are written): an
    // engine may then leave it empty and save the parse.
    virtual bool wants_parsed() const { return true; }
    // A flow the engine aggregated itself (eBPF flow mode); ignored without a flow output.
    virtual void on_flow(const FlowRecord& /*r*/) {}
};

// How full one of the engine's kernel rings is: AF_PACKET's counts blocks the kernel has handed
// over and hookdump has not given back; a BPF ring buffer's counts bytes the programs have
// written and hookdump has not read yet; a netlink socket's receive queue (kmod, NFLOG) counts
// the bytes the kernel charges for the datagrams it holds, of the receive buffer.
struct RingFill {
    enum class Unit { Blocks, Bytes, SocketBytes } unit = Unit::Blocks;
    uint64_t in_use = 0;
    uint64_t size = 0;
};

class Engine {
  public:
    virtual ~Engine() = default;
    virtual std::string_view name() const = 0;
    // Delivers events until the source ends, the handler says stop, or `stop` is set
    // (from a signal handler). Throws RuntimeError on failure.
    virtual void run(EventHandler& handler, const std::atomic<bool>& stop) = 0;
    virtual Ledger ledger() const = 0;
    // Each kernel ring's fill (--metrics), read on the thread that runs the engine (at the
    // handler's on_idle); none for an engine without one.
    virtual std::vector<RingFill> ring_fill() const { return {}; }
    // Flows the engine aggregated itself (eBPF flow mode) and has not handed to on_flow yet.
    virtual uint64_t flows_held() const { return 0; }
};

}  // namespace hookdump
