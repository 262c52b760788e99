// Flow table: one direction per flow, keyed by (netns, 5-tuple). Time is the packets' own
// (so offline reads expire flows as a live capture would). Bounded: when full, the least
// recently seen flow is exported early and counted as an eviction, never dropped silently.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "packet/event.h"

namespace hookdump {

// What tells one flow from another: where it was seen (namespace, interface, capture point)
// and its 5-tuple. ICMP has no ports: its type and code take their place, as NetFlow and
// IPFIX key ICMP flows.
struct FlowKey {
    uint64_t netns = 0;
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint16_t icmp = 0;  // type << 8 | code, with FlowRecord::has_icmp
    uint16_t pad2 = 0;
    int32_t ifindex = 0;  // 0 when unknown (a file read)
    uint8_t family = 0;
    uint8_t proto = 0;
    CapturePoint point = CapturePoint::Unknown;
    uint8_t pad = 0;
    // The whole key at once: no padding the compiler adds (asserted below), so the bytes
    // are the members.
    bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof o) == 0; }
};
static_assert(std::has_unique_object_representations_v<FlowKey>);

struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const noexcept;
};

// Why a record was written. Tcp: the flow carried a FIN or an RST and went quiet (IPFIX's
// "end of flow detected").
enum class FlowEnd : uint8_t { Idle, Active, Evicted, Final, Tcp };
std::string_view to_string(FlowEnd e);

struct FlowRecord {
    FlowKey key;
    bool has_ports = false;
    bool has_icmp = false;
    Direction dir = Direction::Unknown;  // of the flow's first packet
    uint64_t first_ns = 0;
    uint64_t last_ns = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;     // wire lengths
    uint64_t ip_bytes = 0;  // IP datagrams, headers included (IPFIX octetDeltaCount)
    uint8_t tcp_flags = 0;  // OR of every packet's flags
    FlowEnd end = FlowEnd::Final;
    ProcInfo proc;  // of the first of its packets that had a known process
};

struct FlowConfig {
    uint64_t idle_timeout_ns = 60'000'000'000;      // 60 s without a packet
    uint64_t active_timeout_ns = 1800'000'000'000;  // export long flows every 30 min
    // A TCP flow that carried FIN or RST ends once quiet this long (or idle_timeout if that is
    // shorter): long enough for the last ACK a FIN is answered with, which takes one round trip.
    uint64_t tcp_end_ns = 1'000'000'000;
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
    uint64_t exported_tcp = 0;  // ended by FIN or RST
};

// The key of the flow a packet belongs to.
FlowKey flow_key(const PacketEvent& ev);

class FlowTable {
  public:
    using Exporter = std::function<void(const FlowRecord&)>;

    FlowTable(FlowConfig config, Exporter exporter);

    void add(const PacketEvent& ev);
    // The next events add() is given: their index slots and flows are prefetched, so that
    // the cache misses of a table larger than the cache overlap. Changes nothing.
    void prefetch(std::span<const PacketEvent> evs) const;
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
    struct Links {
        uint32_t prev = kNil;  // towards the most recent
        uint32_t next = kNil;  // towards the oldest
    };
    // A flow's record and its places in the lists (indices into nodes_).
    struct Node {
        FlowRecord rec;
        uint64_t hash = 0;
        Links lru;
        Links end;            // in ending_ when `ending`
        bool ending = false;  // a TCP flow that carried FIN or RST
    };
    struct List {
        uint32_t head = kNil;  // the most recently seen
        uint32_t tail = kNil;
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
    void unlink(List& l, Links Node::*links, uint32_t n);
    void push_front(List& l, Links Node::*links, uint32_t n);
    void count_export(FlowEnd why);
    void export_and_erase(uint32_t n, FlowEnd why);

    FlowConfig config_;
    Exporter exporter_;
    // Nodes in fixed chunks: growing never moves them (a vector's doubling past 2^19 flows
    // stalled the reader longer than an 8 MiB AF_PACKET ring lasts at 450,000 packets/s).
    class Nodes {
      public:
        Node& operator[](uint32_t n) { return chunks_[n >> kShift][n & kMask]; }
        const Node& operator[](uint32_t n) const { return chunks_[n >> kShift][n & kMask]; }
        size_t size() const { return size_; }
        void emplace_back() {
            if ((size_ & kMask) == 0) chunks_.push_back(std::make_unique<Node[]>(kMask + 1));
            ++size_;
        }

      private:
        static constexpr uint32_t kShift = 12, kMask = (1u << kShift) - 1;
        std::vector<std::unique_ptr<Node[]>> chunks_;
        size_t size_ = 0;
    };
    Nodes nodes_;
    std::vector<uint32_t> free_;  // unused entries of nodes_
    std::vector<Slot> slots_;     // a power of two, at most half full
    size_t count_ = 0;
    // Every flow, most recently seen first: idle expiry and eviction take from the tail.
    List lru_;
    // The TCP flows that carried FIN or RST, likewise: they end sooner (tcp_end_ns).
    List ending_;
    FlowStats stats_;
};

}  // namespace hookdump
