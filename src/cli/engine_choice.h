// The engines `capture` and `trace` run, built from one set of options in one place (so that
// their defaults cannot drift apart), and `--engine auto`'s pick among them
// (src/engine/auto_choice.h decides, this opens and falls back).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "engine/auto_choice.h"
#include "engine/engine.h"
#include "hookdump.h"

namespace hookdump {

struct EngineOptions {
    std::string interface = "any";  // a name, an index, or any
    std::string expression;         // pcap-filter expression (words joined)
    uint32_t snaplen = 262144;
    bool promiscuous = true;  // AF_PACKET, tc and XDP
    // AF_PACKET's rings.
    unsigned workers = 1;
    uint32_t block_size = 1 << 20;
    uint32_t block_count = 8;
    uint32_t block_timeout_ms = 50;
    // --src/--dst/--sport/--dport/--proto (kmod, tc, xdp, drop), --hooks/--priority (kmod).
    KmodRuleOptions rules;
    uint32_t kmod_snaplen = 0;  // bytes the module copies from the IP header (0: 5-tuple only)
    // tc and XDP.
    bool ingress = true, egress = true;
    std::string xdp_mode = "auto";
    bool flows = false;            // counted in the kernel
    uint32_t max_flows = 65536;    // the kernel's hash: one sweep's flows
    size_t table_flows = 1 << 20;  // userspace's table of them (--max-flows)
    uint64_t idle_timeout_ns = 60'000'000'000;
    uint64_t active_timeout_ns = 1800'000'000'000;
    uint16_t nflog_group = 0;
    bool group_given = false;  // --group: for kmod, the -j HOOKDUMP rules' group to read
    bool all_reasons = false, all_netns = false;  // drop
    // --proc (kmod: the module's senders), the cgroup programs' maps (src/bpf/proc_programs.h;
    // -1: off) for the engines that look processes up in the kernel (tc), and the filters
    // they apply there, or kmod's reader (0: none).
    bool proc = false;
    int proc_socks_fd = -1, proc_ports_fd = -1;
    uint32_t proc_pid = 0;
    uint64_t proc_cgroup = 0;
    std::string proc_comm;
};

// hookdump.ko's limit on the bytes it copies per packet.
inline constexpr uint32_t kKmodMaxSnaplen = HOOKDUMP_MAX_SNAPLEN;

// Opens engine `kind`, a name of the engine table (src/cli/engine_table.h). Throws as the
// engine does (UsageError for the user's mistakes, RuntimeError for the kernel's refusals).
std::unique_ptr<Engine> open_engine(std::string_view kind, const EngineOptions& opt);

struct AutoEngine {
    std::unique_ptr<Engine> engine;
    std::string line;  // "engine auto: afpacket (hookdump.ko not loaded; packets at eth0: ...)"
};

// --engine auto's plan for this host: plan_auto() with the SystemProbe. Made before the
// outputs are created (the pick decides their fields), opened after.
AutoPlan plan_auto_here(const AutoRequest& req);

// --engine auto: the plan's pick opened; when hookdump.ko or tc fails to open with a
// RuntimeError (no BPF permission, the verifier, no free tc priority), the next engine of the
// plan is tried and the failure joins the reasons. UsageErrors (no such interface, a bad
// expression) are the user's on every engine: they are thrown. The engines of one plan write
// the same fields (EngineRow::drop_fields): only drop has them, and it is never a fall back.
AutoEngine open_auto(AutoPlan plan, EngineOptions opt);

}  // namespace hookdump
