// Groups observations from every point into packets and decides each packet's fate.
//
// Identity: PacketKey (observation.h). Two observations belong to one packet when their keys
// are equal and they are close in time (window_ns). Identical packets in one burst (equal
// keys) are told apart by order: an observation joins the oldest open packet with that key
// that has not been seen at the same point yet; packets separated that way are marked
// ambiguous, never merged. Observations without packet bytes (weak keys) join the most
// recent packet with the same 5-tuple at some point.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "trace/observation.h"

namespace hookdump::trace {

enum class Fate : uint8_t { Unknown, Delivered, Forwarded, Sent, Dropped };
std::string_view to_string(Fate f);

struct TracedPacket {
    uint64_t id = 0;
    std::vector<Observation> path;  // in the order the packet went through the stack
    Fate fate = Fate::Unknown;
    std::string dropped_at;  // the hook or point where it died, when dropped
    std::string reason;      // drop reason name, when known
    std::string location;    // where in the kernel, when known
    bool ambiguous = false;  // an identical packet was in flight at the same time
    // The nft rule (or chain policy) that dropped it, when an nft step gave a drop verdict.
    std::optional<NftStep> nft_drop;
};

struct CorrelatorOptions {
    uint64_t window_ns = 200'000'000;  // a packet is complete after this long without news
    // Hooks are observed at both their first and last priority (the module is loaded), so
    // "entered but never left" can be told.
    bool both_slots = true;
    // The tap watches every interface's way out: a packet that left POST_ROUTING and never
    // reached a tap-out died in between (qdisc, neighbour resolution).
    bool tap_egress = false;
};

class Correlator {
  public:
    explicit Correlator(CorrelatorOptions opt = {}) : opt_(opt) {}

    void add(Observation o);
    // Packets whose last observation is older than now - window (all of them with flush),
    // in the order they were first seen: the oldest ones, up to the first that is not.
    std::vector<TracedPacket> take_done(uint64_t now_ns, bool flush = false);
    size_t open() const { return open_.size(); }

  private:
    struct Open {
        TracedPacket pkt;
        uint64_t first_ns = 0;
        uint64_t last_ns = 0;
        PacketKey key;
        bool partial = false;  // only nft observations so far: matched by the short key
    };
    Open* find_for(const Observation& o, bool& collided);
    void finish(TracedPacket& p) const;

    CorrelatorOptions opt_;
    uint64_t next_id_ = 1;
    uint64_t next_seq_ = 0;
    std::deque<std::unique_ptr<Open>> open_;  // by first observation
};

// The one-line path: "tap-in veth0 → PRE_ROUTING → LOCAL_IN(first) ✗ dropped at LOCAL_IN
// (reason NETFILTER_DROP at nft_do_chain+0x1a3)", with NAT shown at the step where the tuple
// changed: "PRE_ROUTING [dst 198.18.0.2:80 → 198.18.1.2:8080]".
std::string format_path(const TracedPacket& p, bool both_slots = true);
// The steps alone, NAT and interfaces left out: what the summary groups packets by.
std::string path_signature(const TracedPacket& p, bool both_slots = true);
// "nft inet f in handle 3: udp dport 7777 counter drop", or "nft inet f in policy drop".
std::string nft_rule_text(const NftStep& n);
// One JSON object (no newline), the schema in docs/FORMATS.md.
std::string to_json(const TracedPacket& p);

// Distinct paths with their packet counts, most common first.
class PathSummary {
  public:
    void add(const TracedPacket& p, bool both_slots = true);
    struct Row {
        std::string signature;
        Fate fate;
        uint64_t packets;
    };
    std::vector<Row> rows() const;
    // Edge counts between consecutive steps, for the graph (step names as in the signature).
    const std::map<std::pair<std::string, std::string>, uint64_t>& edges() const { return edges_; }
    const std::map<std::string, uint64_t>& drops() const { return drops_; }  // dropped_at -> count
    uint64_t total() const { return total_; }

  private:
    std::map<std::pair<std::string, Fate>, uint64_t> paths_;
    std::map<std::pair<std::string, std::string>, uint64_t> edges_;
    std::map<std::string, uint64_t> drops_;
    uint64_t total_ = 0;
};

}  // namespace hookdump::trace
