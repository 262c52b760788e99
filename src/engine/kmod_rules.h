// hookdump.ko's rules as userspace sees them, and the pcap-filter subset that turns into them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookdump {

struct Prefix {
    uint8_t family = 0;  // 4 or 6
    std::array<uint8_t, 16> addr{};
    uint8_t len = 0;
    bool operator==(const Prefix&) const = default;
};

// Parses "198.18.0.1", "198.18.0.0/15", "2001:db8::/32"; throws UsageError.
Prefix parse_prefix(const std::string& text);

struct KmodRule {
    uint32_t id = 0;
    uint8_t family = 0;  // 0 any, 4, 6
    std::optional<Prefix> src, dst;
    uint16_t sport_min = 0, sport_max = 0xffff;
    uint16_t dport_min = 0, dport_max = 0xffff;
    std::optional<uint8_t> proto;
    uint32_t iif = 0, oif = 0;
    uint32_t hooks = 0x1f;  // 1 << HOOKDUMP_HOOK_*
    uint32_t slots = 1;     // 1 << HOOKDUMP_SLOT_*
    uint32_t snaplen = 0;
    int32_t priority = 0;  // with slot custom (4)
    uint64_t hits = 0;
    uint32_t owner =
        0;  // the netlink port of the capture session it belongs to; 0: kept until deleted

    std::string describe() const;
    bool operator==(const KmodRule&) const = default;
};

// "prerouting,input" / "pre-routing,local-in" / "all" -> hook bitmask; throws UsageError.
uint32_t parse_hooks(const std::string& list);
// "first", "last", "both", or a number (a custom priority) -> slot bitmask and priority.
// Throws UsageError.
uint32_t parse_slots(const std::string& which, int32_t* priority);

// The pcap-filter subset the module can express: host/src/dst [host], net/src net/dst net,
// port/src port/dst port, portrange, tcp/udp/icmp/icmp6/sctp/proto N, ip/ip6, joined by
// and/or and parentheses. Each alternative becomes one rule (copied from `base`).
// Throws UsageError naming what cannot be expressed (not, and other primitives).
std::vector<KmodRule> rules_from_expression(const std::string& expr, const KmodRule& base);

}  // namespace hookdump
