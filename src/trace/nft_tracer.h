// The `nft` observation point of `hookdump trace`: a table of its own (hookdump_trace_<pid>,
// inet, chains at the lowest priority on prerouting and output) marks the selected packets
// with nftrace; the NFT_MSG_TRACE messages the kernel then sends on NFNLGRP_NFTRACE for every
// base chain they pass become observations, with the rule's text from the ruleset.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trace/observation.h"

struct nft_ctx;
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

// iptables-legacy tables holding rules (they are not traced): "filter (3 rules)" lines, from
// /proc/net/ip{,6}_tables_names and iptables-legacy-save when present.
std::vector<std::string> legacy_tables_with_rules();

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
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<NftContext> nft_;
    std::unique_ptr<NftTraceTable> table_;
    uint64_t lost_ = 0;
};

}  // namespace hookdump::trace
