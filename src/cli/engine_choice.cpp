#include "cli/engine_choice.h"

#include <algorithm>

#include "engine/afpacket_engine.h"
#include "engine/kmod_engine.h"
#include "engine/nflog_engine.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "engine/bpf_engine.h"
#endif
#ifdef HOOKDUMP_HAVE_DROP
#include "engine/drop_engine.h"
#endif
#include "util/error.h"

namespace hookdump {
std::unique_ptr<Engine> open_engine(const std::string& kind, const EngineOptions& opt) {
    if (kind == "afpacket") {
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
    if (kind == "kmod") {
        KmodRuleOptions r = opt.rules;
        r.snaplen = opt.kmod_snaplen;
        return std::make_unique<KmodEngine>(KmodEngine::Mode::Session, r.rules(opt.expression));
    }
    if (kind == "nflog") {
        if (!opt.expression.empty())
            throw UsageError(
                "--engine nflog takes no expression: your nft/iptables rule ('log group N') "
                "selects the packets");
        return std::make_unique<NflogEngine>(opt.nflog_group,
                                             std::min<uint32_t>(opt.snaplen, 0xffff));
    }
    if (kind == "tc" || kind == "xdp") {
#ifdef HOOKDUMP_HAVE_BPF
        BpfEngineConfig cfg;
        cfg.hook = kind == "tc" ? BpfEngineConfig::Hook::Tc : BpfEngineConfig::Hook::Xdp;
        if (cfg.hook == BpfEngineConfig::Hook::Xdp && !opt.ingress)
            throw UsageError("XDP sees received packets only: --direction out needs --engine tc");
        cfg.interface = opt.interface;
        cfg.ingress = opt.ingress;
        cfg.egress = opt.egress;
        cfg.xdp_mode = opt.xdp_mode;
        cfg.promiscuous = opt.promiscuous;
        cfg.snaplen = opt.snaplen;
        cfg.flows = opt.flows;
        cfg.max_flows = opt.max_flows;
        cfg.idle_timeout_ns = opt.idle_timeout_ns;
        cfg.active_timeout_ns = opt.active_timeout_ns;
        // The options as rules in a map; the expression as libpcap compiles it, translated to
        // eBPF (the same packets as on every other engine).
        cfg.rules = opt.rules.rules("");
        cfg.filter = opt.expression;
        return std::make_unique<BpfEngine>(cfg);
#else
        throw UsageError("--engine " + kind + ": this hookdump was built without eBPF support");
#endif
    }
    if (kind == "drop") {
#ifdef HOOKDUMP_HAVE_DROP
        DropEngineConfig cfg;
        cfg.rules = opt.rules.rules(opt.expression);
        cfg.all_reasons = opt.all_reasons;
        cfg.all_netns = opt.all_netns;
        return std::make_unique<DropEngine>(cfg);
#else
        throw UsageError(
            "this hookdump was built without the drop engine (it needs clang, bpftool, libbpf and "
            "the "
            "build machine's BTF)");
#endif
    }
    throw UsageError("unknown engine '" + kind + "'");
}

AutoEngine open_auto(const AutoRequest& req, EngineOptions opt) {
    SystemProbe probe;
    AutoPlan plan = plan_auto(req, probe);
    // What the module copies: as much of each packet as the other engines keep, up to its limit.
    opt.kmod_snaplen = std::min(opt.snaplen, kKmodMaxSnaplen);
    for (size_t i = 0; i < plan.engines.size(); ++i) {
        const std::string& kind = plan.engines[i];
        try {
            return {open_engine(kind, opt), auto_line(kind, plan.reasons)};
        } catch (const RuntimeError& e) {
            // The last engine: its own error first (scripts read the first words), then how
            // it came to be chosen.
            if (i + 1 == plan.engines.size())
                throw RuntimeError(std::string(e.what()) + "; " + auto_line(kind, plan.reasons));
            if (kind == "kmod" && plan.reasons.size() == 1 &&
                plan.reasons[0] == "hookdump.ko is loaded")
                plan.reasons.clear();
            plan.reasons.push_back(kind + " failed: " + e.what());
        }
    }
    throw RuntimeError("no engine to run");  // plan_auto always ends with one
}

}  // namespace hookdump
