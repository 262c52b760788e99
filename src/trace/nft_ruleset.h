// What trace knows of the nftables ruleset: which hook and priority each base chain has, and
// each rule's text as `nft -a list ruleset` shows it (parsed from libnftables' text listing),
// and the marking rules trace adds for the packets its expression selects. Pure functions:
// tested without root (tests/unit/nft_ruleset_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "rules/rule.h"

namespace hookdump::trace {

struct NftChain {
    std::string hook;  // "input", "prerouting", ...; empty for a regular chain
    int32_t priority = 0;
};

class NftRuleset {
  public:
    // The output of `nft --handle --stateless --numeric-priority list ruleset`.
    static NftRuleset parse(const std::string& listing);

    const NftChain* chain(const std::string& family, const std::string& table,
                          const std::string& chain) const;
    const std::string* rule(const std::string& family, const std::string& table,
                            uint64_t handle) const;
    // Tables named hookdump_trace_<pid>: (family, name, pid).
    std::vector<std::tuple<std::string, std::string, int>> trace_tables() const;

  private:
    std::map<std::tuple<std::string, std::string, std::string>, NftChain> chains_;
    std::map<std::tuple<std::string, std::string, uint64_t>, std::string> rules_;
    std::vector<std::pair<std::string, std::string>> tables_;
};

// "input" -> "LOCAL_IN", "prerouting" -> "PRE_ROUTING", ...; other hooks upper-cased.
std::string nft_hook_point(const std::string& hook);

// The nft verdict code of a trace message as nft prints it: "accept", "drop", "continue", ...
std::string nft_verdict_name(uint32_t code);

constexpr const char* kNftTablePrefix = "hookdump_trace_";
constexpr int32_t kNftMarkPriority = INT32_MIN;  // nft accepts the whole int32 range

// trace's table of process `pid`: hookdump_trace_<pid> (inet).
std::string nft_trace_table_name(int pid);
// The nft commands that create trace's table for `pid`: chains at the lowest priority on the
// prerouting and output hooks of an inet table, whose rules set nftrace on the packets the
// expression selects. An expression outside the rule model's subset marks every packet:
// `note` then says so (empty otherwise).
std::string nft_trace_table_commands(int pid, const std::string& expression, std::string& note);
// The match part of one marking rule ("ip saddr 198.18.0.0/15 meta l4proto udp th dport 53").
std::string nft_match(const Rule& r);

}  // namespace hookdump::trace
