#include "engine/auto_choice.h"

#include <net/if.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "engine/engine_names.h"
#include "engine/kmod_engine.h"
#include "rules/rule.h"
#include "util/error.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "bpf/cbpf_translate.h"
#include "engine/bpf_engine.h"
#endif

namespace hookdump {

bool SystemProbe::kmod_loaded() {
    try {
        KmodClient probe;  // resolves the genl family "hookdump"
        return true;
    } catch (const RuntimeError&) {
        return false;
    }
}

std::string SystemProbe::kmod_refuses(const std::string& expression) {
    try {
        rules_from_expression(expression, Rule{});
        return {};
    } catch (const UsageError& e) {
        return e.what();
    }
}

std::string SystemProbe::tc_refuses(const std::string& interface, const std::string& expression) {
#ifndef HOOKDUMP_HAVE_BPF
    (void)interface;
    (void)expression;
    return "this hookdump was built without eBPF";
#else
    std::string ifname = interface;
    if (!if_nametoindex(ifname.c_str())) {
        char* end = nullptr;
        const long v = std::strtol(interface.c_str(), &end, 10);
        char buf[IF_NAMESIZE] = {};
        // No such interface: every engine says so, let the one chosen do it.
        if (*end || v <= 0 || !if_indextoname(static_cast<unsigned>(v), buf)) return {};
        ifname = buf;
    }
    // A device that is down: tc would attach and wait; the tap says so (as the default always did).
    std::ifstream flags("/sys/class/net/" + ifname + "/flags");
    unsigned long f = 0;
    if (flags >> std::hex >> f && !(f & IFF_UP)) return ifname + " is down";
    bool l3 = false;
    try {
        BpfEngine::linktype_of(ifname, &l3);
    } catch (const std::exception& e) {
        return e.what();
    }
    if (expression.empty()) return {};
    std::vector<sock_filter> cbpf;
    try {
        constexpr int kDltEn10mb = 1, kDltRaw = 12;
        cbpf = bpf::compile_pcap_filter(expression, l3 ? kDltRaw : kDltEn10mb);
    } catch (const UsageError&) {
        return {};  // a bad expression: an error on every engine
    }
    try {
        bpf::translate_cbpf(cbpf, bpf::FilterSpec{bpf::FilterHook::Tc});
    } catch (const UsageError& e) {
        return std::string("tc cannot run the expression: ") + e.what();
    }
    return {};
#endif
}

AutoPlan plan_auto(const AutoRequest& req, AutoProbe& probe) {
    static constexpr const char* kRuleOptions = "--src/--dst/--sport/--dport/--proto";
    // An option only one engine honours decides it.
    if (!req.engine_options.empty()) {
        const OwnedOption& first = req.engine_options.front();
        for (const auto& other : req.engine_options)
            if (other.engine != first.engine)
                throw UsageError(first.option + " and " + other.option +
                                 " belong to different engines (" + first.engine + ", " +
                                 other.engine + ")");
        if (first.engine == engine_name::kAfPacket && req.rule_options)
            throw UsageError(std::string(kRuleOptions) + " are not " + first.owner + " (" +
                             first.option + " is): write them as the expression");
        return {{first.engine}, {}, first.option + " is " + first.owner};
    }

    AutoPlan plan;
    // Why an engine is passed over; only the reasons before the pick are printed.
    auto pass_over = [&](std::string why) {
        if (plan.engines.empty()) plan.reasons.push_back(std::move(why));
    };
    auto pick = [&](std::string_view engine, std::string why) {
        if (plan.engines.empty()) plan.why = std::move(why);
        plan.engines.emplace_back(engine);
    };
    if (!probe.kmod_loaded()) {
        pass_over("hookdump.ko not loaded");
    } else if (!req.interface.empty()) {
        // A link was named: its frames as they cross it, where tc and the tap are. The module
        // sees IP packets at netfilter hooks, several times each and never another host's.
        pass_over("-i " + req.interface + " names a link; hookdump.ko sees netfilter hooks");
    } else if (std::string why = probe.kmod_refuses(req.expression); !why.empty()) {
        pass_over(why);
    } else {
        pick(engine_name::kKmod, "hookdump.ko is loaded");
    }
    // At a named link the cheaper engine for what is asked (bench/README.md, "What --engine
    // auto picks"): for packets the tap's capture process costs less than tc's, for flows
    // only tc's, which counts them in the kernel and reads no packet.
    if (req.interface.empty()) {
        pass_over("tc needs one interface (-i IFACE)");
    } else if (req.interface == "any") {
        pass_over("-i any: tc takes one interface");
    } else if (!req.flows_only && !req.rule_options) {
        pass_over("packets at " + req.interface + ": the tap costs less than tc");
    } else if (std::string why = probe.tc_refuses(req.interface, req.expression); !why.empty()) {
        pass_over(why);
    } else if (req.flows_only) {
        pick(engine_name::kTc, "flows only at " + req.interface + ": tc counts them in the kernel");
    } else {
        pick(engine_name::kTc, std::string("the tap takes no ") + kRuleOptions + " rules");
    }
    if (!req.rule_options) {
        plan.engines.emplace_back(engine_name::kAfPacket);
    } else if (plan.engines.empty()) {
        std::string why;
        for (const auto& r : plan.reasons) why += (why.empty() ? "" : "; ") + r;
        throw UsageError(std::string(kRuleOptions) + " need hookdump.ko or tc (" + why +
                         "); for AF_PACKET write them as the expression");
    }
    return plan;
}

std::string auto_line(const std::string& engine, const std::vector<std::string>& reasons) {
    std::string line = "engine auto: " + engine + " (";
    for (size_t i = 0; i < reasons.size(); ++i) line += (i ? "; " : "") + reasons[i];
    return line + ")";
}

std::string auto_line(const AutoPlan& plan) {
    std::vector<std::string> reasons = plan.reasons;
    if (!plan.why.empty()) reasons.push_back(plan.why);
    return auto_line(plan.engines.front(), reasons);
}

}  // namespace hookdump
