// What `hookdump trace` keeps of one event: a copy (events borrow their bytes), reduced to
// what correlation and the report need.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "packet/event.h"

namespace hookdump::trace {

// An identity that survives the stack, NAT included: fields the kernel does not rewrite on
// the way (IPv4 id, IPv6 flow label, lengths, TCP sequence numbers, a hash of the first
// payload bytes). `strong` is false when the engine gave no packet bytes: the key then falls
// back to the 5-tuple and length, which NAT changes.
struct PacketKey {
    uint64_t hash = 0;
    bool strong = false;
    bool operator==(const PacketKey&) const = default;
};

// Tuple as seen at one point (NAT changes it between points).
struct Tuple {
    uint8_t family = 0;  // 4, 6, or 0 when unknown
    uint8_t proto = 0;
    bool has_ports = false;
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;
    uint16_t dport = 0;
    bool operator==(const Tuple&) const = default;
};
std::string to_string(const Tuple& t);  // "198.18.0.1:1234 > 198.18.0.2:80 udp"

// One base chain an nft-traced packet passed, with the verdict it got there (the nft point).
struct NftStep {
    std::string family, table, chain;  // the chain that gave the verdict
    std::string hook;                  // the base chain's hook as nft names it ("input")
    int32_t priority = 0;
    uint64_t handle = 0;  // the rule's handle; 0: the chain's policy gave the verdict
    std::string rule;     // as `nft -a list ruleset` shows it (stateless)
    std::string verdict;  // "accept", "drop", ...
    bool operator==(const NftStep&) const = default;
};

// The process a socket belongs to, from process attribution's socket map (the rule for a socket
// shared between processes: bpf/hookdump_proc.h), as `capture --proc` names it.
struct SocketProc {
    uint32_t pid = 0, uid = 0;
    std::string comm;
    std::string cgroup;  // the cgroup v2 path; empty when not found
    bool operator==(const SocketProc&) const = default;
};

// The socket a packet was handed to (cgroup_skb ingress) or sent from (egress).
struct SocketStep {
    bool egress = false;
    uint8_t family = 0, proto = 0;
    std::array<uint8_t, 16> addr{};  // the socket's local address and port
    uint16_t port = 0;
    std::optional<SocketProc> proc;  // none: the socket has no entry (the kernel's, unknown)
    bool operator==(const SocketStep&) const = default;
};

struct Observation {
    uint64_t ts_ns = 0;
    CapturePoint point = CapturePoint::Unknown;
    PrioritySlot slot = PrioritySlot::None;
    int32_t ifindex = 0;
    std::string ifname;
    uint32_t l3len = 0;  // IP total length (IPv6: header + payload)
    Tuple tuple;
    PacketKey key;
    bool drop = false;     // a kfree_skb drop report
    std::string reason;    // drop reason name, when drop
    std::string location;  // symbolized drop location, when drop
    uint64_t seq = 0;      // arrival order, for stable sorting
    // The key over what an nft trace message carries (the network header and 20 bytes of
    // the transport header): computed for every observation. `partial` observations (nft)
    // have only this one, and match packets by it.
    PacketKey short_key;
    bool partial = false;
    std::optional<NftStep> nft;
    std::optional<SocketStep> sock;
    // The event as the point gave it, for `trace --record` (src/trace/trace_record.h).
    std::vector<uint8_t> bytes;
    uint16_t linktype = 0;
    uint32_t wire_len = 0;
    Direction dir = Direction::Unknown;
    Verdict verdict = Verdict::Unknown;
    uint64_t netns = 0;
};

// Computes the key and copies what trace keeps. Returns false for events that carry no IP
// packet (nothing to correlate).
bool observe(const PacketEvent& ev, Observation& out);

// Where a point sits on a packet's way through one namespace's stack (ingress:
// xdp, tap-in, tc-ingress, PRE_ROUTING, then LOCAL_IN, or FORWARD; local: LOCAL_OUT; then
// POST_ROUTING, tc-egress, tap-out), first priority before last. Ties order observations
// whose clocks disagree by a few microseconds.
int stack_rank(CapturePoint p, PrioritySlot slot);

// "PRE_ROUTING", "LOCAL_IN", ... for hooks, engine names for the rest ("tap-in", "xdp").
std::string_view trace_point_name(CapturePoint p);

}  // namespace hookdump::trace
