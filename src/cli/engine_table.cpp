#include "cli/engine_table.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <algorithm>

#include "cli/engine_choice.h"
#include "engine/afpacket_engine.h"
#include "engine/engine_names.h"
#include "engine/kmod_engine.h"
#include "engine/nflog_engine.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "engine/bpf_engine.h"
#endif
#ifdef HOOKDUMP_HAVE_DROP
#include "engine/drop_engine.h"
#endif
#include "util/error.h"
#include "util/named.h"

namespace hookdump {
namespace {

// A row's readiness line reads its own engine's accessors: the engine its `open` made.
template <class E, std::string (*Line)(const E&, const EngineOptions&)>
std::string ready_as(const Engine& engine, const EngineOptions& opt) {
    return Line(dynamic_cast<const E&>(engine), opt);
}

std::string linktype_name(int linktype) {
    const char* name = pcap_datalink_val_to_name(linktype);
    return name ? name : "?";
}

std::unique_ptr<Engine> open_afpacket(const EngineOptions& opt) {
    // The tap takes the expression only (it would otherwise ignore them silently).
    if (opt.rules.has_conditions())
        throw UsageError(
            "--src/--dst/--sport/--dport/--proto are rules of kmod, tc, xdp and drop: "
            "with --engine afpacket write them as the expression");
    AfPacketConfig cfg;
    cfg.interface = opt.interface;
    cfg.filter = opt.expression;
    cfg.promiscuous = opt.promiscuous;
    cfg.snaplen = opt.snaplen;
    cfg.workers = opt.workers;
    cfg.block_size = opt.block_size;
    cfg.block_count = opt.block_count;
    cfg.block_timeout_ms = opt.block_timeout_ms;
    return std::make_unique<AfPacketEngine>(cfg);
}

std::string afpacket_ready(const AfPacketEngine& af, const EngineOptions& opt) {
    const char* desc = pcap_datalink_val_to_description(af.linktype());
    std::string s =
        fmt::format("listening on {}, link-type {} ({}), snapshot length {} bytes\n", opt.interface,
                    linktype_name(af.linktype()), desc ? desc : "?", opt.snaplen);
    if (af.userspace_filter())
        s += "hookdump: this expression reads link-layer fields the kernel cannot filter on "
             "'any'; filtering in userspace\n";
    return s;
}

std::unique_ptr<Engine> open_kmod(const EngineOptions& opt) {
    KmodRuleOptions r = opt.rules;
    if (opt.group_given) {
        // The iptables rules' -j HOOKDUMP chose the packets: no rules of hookdump.ko's own. A
        // listener (the multicast group), so that captures of other groups run beside it. An
        // expression (and --src...) narrows the group's events down, in userspace.
        std::vector<Rule> keep = r.rules(opt.expression);
        if (std::any_of(keep.begin(), keep.end(),
                        [](const Rule& k) { return k.matches_everything() && k.hooks == 0x1f; }))
            keep.clear();
        return std::make_unique<KmodEngine>(
            KmodEngine::Mode::Listen, std::vector<Rule>{},
            KmodTargets{KmodTargets::Keep::Group, opt.nflog_group, std::move(keep)});
    }
    r.snaplen = opt.kmod_snaplen;
    return std::make_unique<KmodEngine>(KmodEngine::Mode::Session, r.rules(opt.expression));
}

// --proc: the module names the sender of a locally generated packet; the events kept are the
// filter's (in userspace).
std::unique_ptr<Engine> open_kmod_proc(const EngineOptions& opt) {
    std::unique_ptr<Engine> e = open_kmod(opt);
    if (opt.proc)
        static_cast<KmodEngine&>(*e).set_proc(
            {.pid = opt.proc_pid, .comm = opt.proc_comm, .cgroup_id = opt.proc_cgroup});
    return e;
}

std::string kmod_ready(const KmodEngine& km, const EngineOptions& opt) {
    if (opt.group_given)
        return fmt::format("listening for iptables -j HOOKDUMP group {} (kmod engine)\n",
                           opt.nflog_group);
    return fmt::format("listening at netfilter hooks ({} rules, kmod engine)\n",
                       km.rule_ids().size());
}

std::unique_ptr<Engine> open_nflog(const EngineOptions& opt) {
    if (!opt.expression.empty())
        throw UsageError(
            "--engine nflog takes no expression: your nft/iptables rule ('log group N') "
            "selects the packets");
    return std::make_unique<NflogEngine>(opt.nflog_group, std::min<uint32_t>(opt.snaplen, 0xffff));
}

std::string nflog_ready(const NflogEngine&, const EngineOptions& opt) {
    return fmt::format("listening on NFLOG group {}\n", opt.nflog_group);
}

#ifdef HOOKDUMP_HAVE_BPF
std::unique_ptr<Engine> open_bpf(BpfEngineConfig::Hook hook, const EngineOptions& opt) {
    BpfEngineConfig cfg;
    cfg.hook = hook;
    if (hook == BpfEngineConfig::Hook::Xdp && !opt.ingress)
        throw UsageError("XDP sees received packets only: --direction out needs --engine tc");
    cfg.interface = opt.interface;
    cfg.ingress = opt.ingress;
    cfg.egress = opt.egress;
    cfg.xdp_mode = opt.xdp_mode;
    cfg.promiscuous = opt.promiscuous;
    cfg.snaplen = opt.snaplen;
    cfg.flows = opt.flows;
    cfg.max_flows = opt.max_flows;
    cfg.table_flows = opt.table_flows;
    cfg.idle_timeout_ns = opt.idle_timeout_ns;
    cfg.active_timeout_ns = opt.active_timeout_ns;
    // The options as rules in a map; the expression as libpcap compiles it, translated to
    // eBPF (the same packets as on every other engine).
    cfg.rules = opt.rules.rules("");
    cfg.filter = opt.expression;
    if (hook == BpfEngineConfig::Hook::Tc) {
        cfg.proc_socks_fd = opt.proc_socks_fd;
        cfg.proc_ports_fd = opt.proc_ports_fd;
        cfg.proc_pid = opt.proc_pid;
        cfg.proc_cgroup = opt.proc_cgroup;
        cfg.proc_comm = opt.proc_comm;
    }
    return std::make_unique<BpfEngine>(cfg);
}

std::unique_ptr<Engine> open_tc(const EngineOptions& opt) {
    return open_bpf(BpfEngineConfig::Hook::Tc, opt);
}

std::unique_ptr<Engine> open_xdp(const EngineOptions& opt) {
    return open_bpf(BpfEngineConfig::Hook::Xdp, opt);
}

// tc's and XDP's line: the hook's mode in parentheses (tc's directions, XDP's attach mode).
std::string bpf_ready(const BpfEngine& bpf, const EngineOptions& opt) {
    std::string s;
    if (bpf.stale_removed())
        s += fmt::format(
            "hookdump: removed {} tc filter(s) left on {} by a hookdump that did not exit "
            "cleanly\n",
            bpf.stale_removed(), bpf.ifname());
    const bool tc = bpf.name() == engine_name::kTc;
    const char* dir = opt.ingress && opt.egress ? "ingress+egress"
                      : opt.ingress             ? "ingress"
                                                : "egress";
    s += fmt::format("listening on {}, link-type {}, {} engine ({}){}, snapshot length {} bytes\n",
                     bpf.ifname(), linktype_name(bpf.linktype()), bpf.name(),
                     tc                 ? dir
                     : bpf.xdp_native() ? "native"
                                        : "generic",
                     opt.flows ? ", flows counted in the kernel" : "", opt.snaplen);
    return s;
}
constexpr auto kBpfReady = ready_as<BpfEngine, bpf_ready>;
#else
template <const std::string_view& Name>
std::unique_ptr<Engine> open_without_bpf(const EngineOptions&) {
    throw UsageError(
        fmt::format("--engine {}: this hookdump was built without eBPF support", Name));
}
constexpr auto open_tc = open_without_bpf<engine_name::kTc>;
constexpr auto open_xdp = open_without_bpf<engine_name::kXdp>;
std::string no_ready(const Engine&, const EngineOptions&) {
    return {};
}
constexpr auto kBpfReady = no_ready;
#endif

#ifdef HOOKDUMP_HAVE_DROP
std::unique_ptr<Engine> open_drop(const EngineOptions& opt) {
    DropEngineConfig cfg;
    cfg.rules = opt.rules.rules(opt.expression);
    cfg.all_reasons = opt.all_reasons;
    cfg.all_netns = opt.all_netns;
    return std::make_unique<DropEngine>(cfg);
}

std::string drop_ready(const DropEngine& drop, const EngineOptions&) {
    return fmt::format(
        "listening at skb:kfree_skb ({}, drop engine)\n",
        drop.kernel_has_reasons() ? "drop reasons" : "this kernel reports no drop reasons");
}
constexpr auto kDropReady = ready_as<DropEngine, drop_ready>;
#else
std::unique_ptr<Engine> open_drop(const EngineOptions&) {
    throw UsageError(
        "this hookdump was built without the drop engine (it needs clang, bpftool, libbpf and "
        "the build machine's BTF)");
}
std::string no_drop_ready(const Engine&, const EngineOptions&) {
    return {};
}
constexpr auto kDropReady = no_drop_ready;
#endif

}  // namespace

const std::vector<EngineRow>& engine_table() {
    static const std::vector<EngineRow> kRows = {
        {.name = engine_name::kAfPacket,
         .help = "the tap",
         .owner = "AF_PACKET's",
         // Detaching tc filters and removing module rules at exit needs the privileges -Z
         // gives up: -Z is the tap's.
         .owned_options = {"--workers", "--per-worker-files", "--block-size", "--ring-blocks",
                           "--block-timeout", "-Z"},
         .open = open_afpacket,
         .ready = ready_as<AfPacketEngine, afpacket_ready>},
        {.name = engine_name::kKmod,
         .help = "hookdump.ko",
         .owner = "hookdump.ko's",
         .owned_options = {"--hooks", "--priority"},
         .open = open_kmod_proc,
         .ready = ready_as<KmodEngine, kmod_ready>,
         .label_field = [](const EngineOptions& opt) { return opt.group_given; }},
        {.name = engine_name::kNflog,
         .help = "",
         .owner = "NFLOG's",
         .owned_options = {"--group"},
         .open = open_nflog,
         .ready = ready_as<NflogEngine, nflog_ready>,
         .label_field = [](const EngineOptions&) { return true; }},
        {.name = engine_name::kTc,
         .help = "",
         .owner = "tc's",
         .owned_options = {"--direction"},
         .open = open_tc,
         .ready = kBpfReady},
        {.name = engine_name::kXdp,
         .help = "",
         .owner = "XDP's",
         .owned_options = {"--xdp-mode"},
         .open = open_xdp,
         .ready = kBpfReady},
        {.name = engine_name::kDrop,
         .help = "the kernel's drop reasons",
         .owner = "drop's",
         .owned_options = {"--all-reasons", "--all-netns"},
         .open = open_drop,
         .ready = kDropReady,
         .drop_fields = true},
    };
    return kRows;
}

const EngineRow& engine_row(std::string_view name) {
    return row_by_name(engine_table(), name, "engine");
}

}  // namespace hookdump
