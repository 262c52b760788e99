// The `nft` observation point of `hookdump trace`: a table of its own (hookdump_trace_<pid>,
// inet, chains at the lowest priority on prerouting and output) marks the selected packets
// with nftrace; the NFT_MSG_TRACE messages the kernel then sends on NFNLGRP_NFTRACE for every
// base chain they pass become observations, with the rule's text from the ruleset.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trace/nft_ruleset.h"
#include "trace/observation.h"

struct nft_ctx;
struct nlmsghdr;
struct mnl_socket;

namespace hookdump::trace {

// The libnftables context, serialised (one command at a time from any thread).
class NftContext {
  public:
    NftContext();
    ~NftContext();
    NftContext(const NftContext&) = delete;
    NftContext& operator=(const NftContext&) = delete;
    // Runs nft commands; returns the output, throws RuntimeError with nft's first error line.
    std::string run(const std::string& cmds);
    bool try_run(const std::string& cmds, std::string* out = nullptr);

  private:
    nft_ctx* ctx_;
};

// The marking table: added by the constructor (after removing killed runs' tables), removed
// by the destructor.
class NftTraceTable {
  public:
    NftTraceTable(NftContext& nft, const std::string& expression);
    ~NftTraceTable();
    NftTraceTable(const NftTraceTable&) = delete;
    NftTraceTable& operator=(const NftTraceTable&) = delete;
    const std::string& name() const { return name_; }
    const std::string& note() const { return note_; }  // non-empty: everything is marked
    std::vector<std::string> removed_stale() const { return stale_; }

  private:
    NftContext& nft_;
    std::string name_, note_;
    std::vector<std::string> stale_;
};

// The iptables-legacy tables of this namespace, whose rules are not traced ("iptables-legacy
// filter", "ip6tables-legacy nat"): /proc/net/ip{,6}_tables_names (a table exists in a
// namespace once rules were added to it or it was listed there).
std::vector<std::string> legacy_tables_with_rules();

// NFT_MSG_TRACE messages to observations: one per verdict a base chain gave (a rule's accept,
// drop, queue or stolen, or the chain's policy), on a packet the expression selects. The
// kernel puts the packet's headers in the first message of each base chain only: where no
// rule decides, that is the message of the end of the rules (type RETURN) before the
// policy's, so the headers are kept per trace id until the chain's verdict.
class NftTraceDecoder {
  public:
    // A fresh listing, when a message names a chain or rule `ruleset` does not know (nullopt:
    // none now).
    using Relist = std::function<std::optional<NftRuleset>()>;
    // `own_table`: the marking table, whose messages are not observations. Throws UsageError
    // for an expression libpcap refuses.
    NftTraceDecoder(std::string own_table, const std::string& expression, NftRuleset ruleset,
                    Relist relist);
    ~NftTraceDecoder();
    NftTraceDecoder(const NftTraceDecoder&) = delete;
    NftTraceDecoder& operator=(const NftTraceDecoder&) = delete;

    // One netlink message (any type), read at now_ns (realtime).
    std::optional<Observation> decode(const nlmsghdr* nlh, uint64_t now_ns);
    void set_ruleset(NftRuleset ruleset);
    // Forgets trace ids without news for a second (a packet stolen in a regular chain).
    void expire(uint64_t now_ns);
    size_t pending() const;  // trace ids waiting for their chain's verdict

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class NftTracer {
  public:
    // Opens the trace socket (before the table exists: no message is missed), then adds the
    // table. Throws RuntimeError.
    explicit NftTracer(const std::string& expression);
    ~NftTracer();
    NftTracer(const NftTracer&) = delete;
    NftTracer& operator=(const NftTracer&) = delete;

    const NftTraceTable& table() const { return *table_; }
    // Reads trace messages until stop; each base chain's verdict is one observation.
    void run(const std::function<void(Observation)>& sink, const std::atomic<bool>& stop);
    uint64_t lost() const { return lost_; }

  private:
    mnl_socket* nl_ = nullptr;
    std::unique_ptr<NftContext> nft_;
    std::unique_ptr<NftTraceTable> table_;
    std::unique_ptr<NftTraceDecoder> decoder_;
    uint64_t listed_ns_ = 0;
    uint64_t lost_ = 0;
};

}  // namespace hookdump::trace
