// `--engine auto`: which engine a capture runs when the user did not say. hookdump.ko if it is
// loaded and no -i names a link; at a named interface the cheapest engine for what is asked
// (bench/README.md, "What --engine auto picks"): packets through the tap (AF_PACKET), flows
// only through tc's in-kernel flow mode; AF_PACKET otherwise. Options only one engine honours
// decide it outright. The decision is a pure function of the request and of an AutoProbe (the
// host's answers), so that it is tested without root; src/cli/engine_choice.cpp opens the
// engines and falls back at run time.
#pragma once

#include <string>
#include <vector>

namespace hookdump {

// An option given that only one engine honours (src/cli/engine_table.cpp's rows own them).
struct OwnedOption {
    std::string option;  // "--workers"
    std::string engine;  // "afpacket"
    std::string owner;   // the engine as the line names it: "AF_PACKET's"
};

struct AutoRequest {
    std::string interface;   // -i as given; empty when -i was not given
    std::string expression;  // the pcap-filter expression (words joined)
    std::vector<OwnedOption> engine_options;
    bool rule_options = false;  // --src/--dst/--sport/--dport/--proto: hookdump.ko and tc only
    // Flow records are all that is written (--flows, no -w/-o, no packet text): tc can count
    // them in the kernel. Otherwise packets are wanted.
    bool flows_only = false;
};

// What the host can do. Each *_refuses returns why that engine cannot take the request here,
// or "" when it can (or when the error is the user's and every engine would report it).
class AutoProbe {
  public:
    virtual ~AutoProbe() = default;
    virtual bool kmod_loaded() = 0;
    virtual std::string kmod_refuses(const std::string& expression) = 0;
    virtual std::string tc_refuses(const std::string& interface, const std::string& expression) = 0;
};

// The probe of this machine: the genl family "hookdump" resolves; the expression turns into
// module rules; the tc engine is built, the device's link type is one it frames, and libpcap's
// program for the expression translates to eBPF (nothing is loaded).
class SystemProbe final : public AutoProbe {
  public:
    bool kmod_loaded() override;
    std::string kmod_refuses(const std::string& expression) override;
    std::string tc_refuses(const std::string& interface, const std::string& expression) override;
};

struct AutoPlan {
    std::vector<std::string> engines;  // to try in order: the pick first, then run-time fallbacks
    std::vector<std::string> reasons;  // why the engines before the pick were passed over
    std::string why;  // why the pick (its option, what it does cheapest); gone if it fails to open
};

// Throws UsageError when no engine can honour the options given together.
AutoPlan plan_auto(const AutoRequest& req, AutoProbe& probe);

// The one line on stderr: "engine auto: afpacket (hookdump.ko not loaded; packets at eth0: the
// tap costs less than tc)" (the caller prefixes "hookdump: ").
std::string auto_line(const std::string& engine, const std::vector<std::string>& reasons);
// The line for the plan's pick: its reasons, then its why.
std::string auto_line(const AutoPlan& plan);

}  // namespace hookdump
