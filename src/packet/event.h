// The one packet model: every engine produces PacketEvents, every sink consumes them.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "packet/parse.h"

namespace hookdump {

// Where in the stack a packet was observed.
enum class CapturePoint : uint8_t {
    Unknown = 0,  // e.g. read from a file that does not say
    TapIn,        // AF_PACKET, received (before PREROUTING)
    TapOut,       // AF_PACKET, sent (after POSTROUTING)
    PreRouting,
    LocalIn,
    Forward,
    LocalOut,
    PostRouting,
    Xdp,
    TcIngress,
    TcEgress,
    Nflog,
    Drop,    // skb:kfree_skb: where the kernel freed a packet it dropped
    Socket,  // cgroup_skb: handed to a local socket, or sent by one (hookdump trace)
};
inline constexpr int kCapturePointCount = 14;

std::string_view to_string(CapturePoint p);

// A netfilter hook (PRE_ROUTING .. POST_ROUTING): the points the module registers slots on.
constexpr bool is_netfilter_hook(CapturePoint p) {
    return p >= CapturePoint::PreRouting && p <= CapturePoint::PostRouting;
}
std::optional<CapturePoint> capture_point_from_string(std::string_view s);

// Which registration of a netfilter hook saw the packet (first or last priority, or one given).
enum class PrioritySlot : uint8_t { None = 0, First, Last, Custom };

enum class Direction : uint8_t { Unknown = 0, In, Out };
std::string_view to_string(Direction d);

// What happened to the packet at this point, where the engine knows.
enum class Verdict : uint8_t { Unknown = 0, Accept, Drop };
std::string_view to_string(Verdict v);

// Interface names are short (IFNAMSIZ); kept inline so the event stays a small value type.
struct IfName {
    char s[16] = {};
    std::string_view view() const { return {s, strnlen(s, sizeof s)}; }
    void assign(std::string_view v);
    bool empty() const { return s[0] == 0; }
};

// The process a packet's socket belongs to, where the engine can tell (capture --proc:
// src/bpf/proc_programs.h; the rule for a shared socket: its creator, bpf/hookdump_proc.h).
// Never a guess: a forwarded packet, one the kernel made itself, one whose socket is gone has
// none (known false).
struct ProcInfo {
    bool known = false;
    uint32_t pid = 0;  // the thread group id
    uint32_t uid = 0;
    uint64_t cgroup_id = 0;  // cgroup v2
    char comm[16] = {};
    // The cgroup's path under the cgroup2 mount ("/user.slice/..."); empty when not resolved.
    // Borrowed: valid while the capture runs.
    std::string_view cgroup;
    std::string_view comm_view() const { return {comm, strnlen(comm, sizeof comm)}; }
};

struct PacketEvent {
    uint64_t ts_ns = 0;  // CLOCK_REALTIME, nanoseconds since the epoch
    CapturePoint point = CapturePoint::Unknown;
    PrioritySlot slot = PrioritySlot::None;
    Direction dir = Direction::Unknown;
    Verdict verdict = Verdict::Unknown;
    int32_t priority = 0;  // netfilter priority when slot != None
    int32_t ifindex = 0;   // 0 when unknown
    IfName ifname;
    uint64_t netns = 0;     // network namespace id (inode or cookie), 0 when unknown
    uint32_t len = 0;       // original length on the wire
    uint16_t linktype = 1;  // LINKTYPE_ of `bytes`
    // Captured bytes, at most snaplen; empty when the engine reports headers only. Borrowed:
    // valid only while the event is being handled.
    std::span<const uint8_t> bytes;
    Parsed parsed;
    // A label the source attached (the NFLOG rule's prefix). Borrowed like `bytes`.
    std::string_view label;
    // Drop events (CapturePoint::Drop): the kernel's name of the reason ("NETFILTER_DROP",
    // "unknown" where the kernel reports none) and where the packet was freed
    // ("nf_hook_slow+0x9f"). Borrowed like `bytes`; empty for other events.
    std::string_view drop_reason;
    std::string_view drop_location;
    // `hookdump trace --record`: what trace keeps of the observation beyond the above (the nft
    // or socket step; docs/FORMATS.md), written as a second pcapng comment. Borrowed like
    // `bytes`; empty for other events.
    std::string_view annotation;
    ProcInfo proc;

    uint32_t caplen() const { return static_cast<uint32_t>(bytes.size()); }
};

// The capture point as printed: "output", or "output:last" / "output:custom" for a hook seen
// at its last or a custom priority (the first priority is the default and has no suffix).
std::string_view point_label(const PacketEvent& ev);

}  // namespace hookdump
