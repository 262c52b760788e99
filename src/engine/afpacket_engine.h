// Live capture at the AF_PACKET tap (where tcpdump captures): a TPACKET_V3 mmap ring per
// socket, the pcap-filter expression compiled by libpcap and run in the kernel, PACKET_FANOUT
// across worker threads, and the kernel's drop counters in the ledger.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_names.h"

namespace hookdump {

class AfPacketRing;

struct AfPacketConfig {
    std::string interface = "any";  // a name, an index, or "any"
    std::string filter;             // pcap-filter expression
    bool promiscuous = true;
    uint32_t snaplen = 262144;
    uint32_t block_size = 1 << 20;  // raised to hold one snaplen-sized frame
    uint32_t block_count = 8;
    uint32_t block_timeout_ms = 50;  // a partly filled block is handed over after this
    unsigned workers = 1;            // >1: PACKET_FANOUT (hash) across this many rings
};

class AfPacketEngine final : public Engine {
  public:
    // Opens the sockets, attaches the filter and maps the rings. Throws UsageError for a bad
    // interface or expression, RuntimeError when the kernel refuses (with the capability
    // needed when that is the reason).
    explicit AfPacketEngine(AfPacketConfig cfg);
    ~AfPacketEngine() override;

    std::string_view name() const override { return engine_name::kAfPacket; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override;
    // Each ring's fill in blocks; any thread may ask.
    std::vector<RingFill> ring_fill() const override;

    // Link type of the events (the interface's, or LINUX_SLL2 for "any").
    int linktype() const { return linktype_; }
    // True when the expression could not run in the kernel and is applied in userspace.
    bool userspace_filter() const;
    unsigned workers() const { return static_cast<unsigned>(rings_.size()); }

    // Runs only ring `index` (for one pipeline per worker); thread-safe across indexes.
    void run_worker(unsigned index, EventHandler& handler, const std::atomic<bool>& stop);

  private:
    AfPacketConfig cfg_;
    int linktype_ = 1;
    std::vector<std::unique_ptr<AfPacketRing>> rings_;
};

}  // namespace hookdump
