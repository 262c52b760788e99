// Flow table: one direction per flow, keyed by (netns, 5-tuple). Time is the packets' own
// (so offline reads expire flows as a live capture would). Bounded: when full, the least
// recently seen flow is exported early and counted as an eviction, never dropped silently.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "packet/event.h"

namespace hookdump {

struct FlowKey {
    uint64_t netns = 0;
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint8_t family = 0;
    uint8_t proto = 0;
    bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const noexcept;
};

enum class FlowEnd : uint8_t { Idle, Active, Evicted, Final };
std::string_view to_string(FlowEnd e);

struct FlowRecord {
    FlowKey key;
    bool has_ports = false;
    uint64_t first_ns = 0;
    uint64_t last_ns = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint8_t tcp_flags = 0;  // OR of every packet's flags
    FlowEnd end = FlowEnd::Final;
};

struct FlowConfig {
    uint64_t idle_timeout_ns = 60'000'000'000;      // 60 s without a packet
    uint64_t active_timeout_ns = 1800'000'000'000;  // export long flows every 30 min
    size_t max_flows = 1 << 20;
};

struct FlowStats {
    uint64_t packets = 0;         // IP packets counted in flows
    uint64_t non_ip_packets = 0;  // not in any flow
    uint64_t flows_created = 0;
    uint64_t exported_idle = 0;
    uint64_t exported_active = 0;
    uint64_t evicted = 0;  // exported early because the table was full
    uint64_t exported_final = 0;
};

class FlowTable {
  public:
    using Exporter = std::function<void(const FlowRecord&)>;

    FlowTable(FlowConfig config, Exporter exporter);

    void add(const PacketEvent& ev);
    // Exports flows idle since before now - idle_timeout.
    void expire(uint64_t now_ns);
    // Exports every flow left (end of capture), oldest first.
    void flush_all();
    // A flow aggregated elsewhere (in the kernel, by the eBPF engines): exported as it is and
    // counted like the table's own; a record with family 0 counts as non-IP packets.
    void add_record(const FlowRecord& r);

    size_t size() const { return count_; }
    const FlowStats& stats() const { return stats_; }

  private:
    static constexpr uint32_t kNil = UINT32_MAX;
    // A flow's record and its place in the LRU list (indices into nodes_).
    struct Node {
        FlowRecord rec;
        uint64_t hash = 0;
        uint32_t prev = kNil;  // towards the most recent
        uint32_t next = kNil;  // towards the oldest
    };
    // The index: open addressing with linear probing over node indices; `tag` is the hash's
    // upper half, so that most probes of other flows end without touching their node.
    struct Slot {
        uint32_t node = kNil;
        uint32_t tag = 0;
    };

    uint32_t find(const FlowKey& key, uint64_t hash) const;  // node index or kNil
    void index_insert(uint32_t node);
    void index_erase(uint32_t node);
    void grow();
    void unlink(uint32_t n);
    void push_front(uint32_t n);
    void export_and_erase(uint32_t n, FlowEnd why);

    FlowConfig config_;
    Exporter exporter_;
    std::vector<Node> nodes_;
    std::vector<uint32_t> free_;  // unused entries of nodes_
    std::vector<Slot> slots_;     // a power of two, at most half full
    size_t count_ = 0;
    // Most recently seen at the head: idle expiry and eviction take from the tail.
    uint32_t head_ = kNil;
    uint32_t tail_ = kNil;
    FlowStats stats_;
};

}  // namespace hookdump
