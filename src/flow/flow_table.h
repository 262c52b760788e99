// Flow table: one direction per flow, keyed by (netns, 5-tuple). Time is the packets' own
// (so offline reads expire flows as a live capture would). Bounded: when full, the least
// recently seen flow is exported early and counted as an eviction, never dropped silently.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>

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
    uint64_t idle_timeout_ns = 60'000'000'000;     // 60 s without a packet
    uint64_t active_timeout_ns = 1800'000'000'000; // export long flows every 30 min
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

    size_t size() const { return index_.size(); }
    const FlowStats& stats() const { return stats_; }

private:
    void export_and_erase(std::list<FlowRecord>::iterator it, FlowEnd why);

    FlowConfig config_;
    Exporter exporter_;
    // Most recently seen at the front: idle expiry and eviction take from the back.
    std::list<FlowRecord> lru_;
    std::unordered_map<FlowKey, std::list<FlowRecord>::iterator, FlowKeyHash> index_;
    FlowStats stats_;
};

}  // namespace hookdump
