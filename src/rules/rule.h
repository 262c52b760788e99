// The rule model: which packets hookdump.ko, the tc/XDP programs and the drop program keep. One
// model for the three: the rule options (--src/--dst/--sport/--dport/--proto, --hooks,
// --priority, --snaplen) and the pcap-filter subset they can express make rules here; the
// module gets them over netlink (src/engine/kmod_engine.cpp), the BPF programs as struct
// hd_rule (rules/bpf_rules.h). Addresses' family is the IP version (4, 6) everywhere but on
// the module's netlink wire, which has AF_INET/AF_INET6 (its ABI: kmod_engine converts).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookdump {

struct Parsed;

struct Prefix {
    uint8_t family = 0;  // 4 or 6
    std::array<uint8_t, 16> addr{};
    uint8_t len = 0;
    bool operator==(const Prefix&) const = default;
};

// Parses "198.18.0.1", "198.18.0.0/15", "2001:db8::/32"; throws UsageError.
Prefix parse_prefix(const std::string& text);

// A packet matches a rule when every condition given holds, and a rule set when one rule
// matches. The hooks, slots, priority and snaplen are the module's only.
struct Rule {
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

    // No condition on the packet (family, addresses, ports, protocol): every packet, IP or
    // not, matches (the module's hooks see IP only).
    bool matches_everything() const;
    // The module's match (kmod/hookdump.c rule_matches_l3/_l4) in userspace, on a parsed
    // packet seen at `hook` (HOOKDUMP_HOOK_*): family, addresses, protocol, ports and hooks
    // (not the interfaces, slots or priority). For events the module did not match itself,
    // an iptables -j HOOKDUMP rule's (capture --engine kmod --group N EXPRESSION).
    bool matches(const Parsed& p, unsigned hook) const;
    std::string describe() const;
    bool operator==(const Rule&) const = default;
};

// The family as the module's netlink attributes and events have it (AF_INET, AF_INET6: its ABI)
// and as the model does (4, 6); 0 for any other.
uint8_t family_from_af(unsigned af);
uint8_t af_from_family(uint8_t family);

// "prerouting,input" / "pre-routing,local-in" / "all" -> hook bitmask; throws UsageError.
uint32_t parse_hooks(const std::string& list);
// "first", "last", "both", or a number (a custom priority) -> slot bitmask and priority.
// Throws UsageError.
uint32_t parse_slots(const std::string& which, int32_t* priority);

// The rule options as given on the command line (`capture`, `rules add`), not yet parsed.
struct RuleOptions {
    std::string src, dst, sport, dport, proto, hooks = "all", priority = "first";
    uint32_t snaplen = 0;
    // A condition on the packet given (--src/--dst/--sport/--dport/--proto).
    bool has_conditions() const;
};

// The pcap-filter subset the rules can express: host/src/dst [host], net/src net/dst net,
// port/src port/dst port, portrange, tcp/udp/icmp/icmp6/sctp/proto N, ip/ip6, joined by
// and/or and parentheses. Each alternative becomes one rule (copied from `base`), at most
// HOOKDUMP_MAX_RULES. Throws UsageError naming what cannot be expressed (not, and other
// primitives).
std::vector<Rule> rules_from_expression(const std::string& expr, const Rule& base);

// The rules for `expression` (joined words) with the options as their common base. Throws
// UsageError.
std::vector<Rule> rules_from_options(const RuleOptions& options, const std::string& expression);

}  // namespace hookdump
