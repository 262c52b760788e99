// Drop reasons: the packets the kernel frees as dropped (skb:kfree_skb), with the reason the
// kernel gives and the place it freed them, from hookdump_drop.bpf.c over a BPF ring buffer.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_names.h"
#include "rules/rule.h"
#include "util/kallsyms.h"

struct hookdump_drop_event;

namespace hookdump {

class DropProgram;
class DropReasons;
namespace bpf {
class RingbufFill;
}

struct DropEngineConfig {
    std::vector<Rule> rules;  // the filter (the rule model); empty: every packet
    // Also frees whose reason is NOT_SPECIFIED: every kfree_skb() caller not converted to a
    // reason, error paths and clean-ups among them, so a busy host shows a stream of them
    // that says nothing. Off by default (dropwatch and perf's skb:kfree_skb show all).
    bool all_reasons = false;
    bool all_netns = false;  // default: only the network namespace hookdump runs in
};

class DropEngine final : public Engine {
  public:
    // Reads the kernel's BTF, loads and attaches the program. Throws RuntimeError (no BTF,
    // no permission) or UsageError (a filter it cannot hold).
    explicit DropEngine(const DropEngineConfig& cfg);
    ~DropEngine() override;

    std::string_view name() const override { return engine_name::kDrop; }
    void run(EventHandler& handler, const std::atomic<bool>& stop) override;
    Ledger ledger() const override;
    // The program's ring buffer, in bytes.
    std::vector<RingFill> ring_fill() const override;

    // What the kernel offers, for the readiness line: "reasons" or "no reasons (kernel < 5.17)".
    bool kernel_has_reasons() const { return with_reason_; }

  private:
    bool deliver(const hookdump_drop_event& e, EventHandler& handler);
    std::string_view location(uint64_t addr);

    bool with_reason_ = false;
    uint64_t own_netns_ = 0;
    int64_t realtime_offset_ns_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC at start
    std::unique_ptr<DropReasons> reasons_;
    Kallsyms kallsyms_;
    uint64_t kallsyms_loaded_ns_ = 0;
    std::unordered_map<uint64_t, std::string> locations_;
    std::unique_ptr<DropProgram> prog_;
    std::unique_ptr<bpf::RingbufFill> ring_;
    EventHandler* handler_ = nullptr;
    uint64_t received_ = 0;
};

}  // namespace hookdump
