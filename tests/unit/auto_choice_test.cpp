// --engine auto's decision (src/engine/auto_choice.h) against a fake host: the module without
// -i, at a link the cheaper engine for what is asked (packets: AF_PACKET; flows only: tc),
// options that decide outright; the reasons in the stderr line; usage errors.
// The real probes and the engines opened are tested in tests/netns/test_auto.py and VM case
// 76_engine_auto.
#include <gtest/gtest.h>

#include "engine/auto_choice.h"
#include "util/error.h"

namespace hookdump {
namespace {

struct FakeHost final : AutoProbe {
    bool loaded = false;
    std::string kmod_no, tc_no;
    int probes = 0, tc_probes = 0;
    bool kmod_loaded() override {
        ++probes;
        return loaded;
    }
    std::string kmod_refuses(const std::string&) override { return kmod_no; }
    std::string tc_refuses(const std::string&, const std::string&) override {
        ++tc_probes;
        return tc_no;
    }
};

std::string line(const AutoRequest& req, FakeHost& host) {
    return auto_line(plan_auto(req, host));
}

using Engines = std::vector<std::string>;
const Engines kAf = {"afpacket"};
const Engines kTcThenAf = {"tc", "afpacket"};
const Engines kTcOnly = {"tc"};
const Engines kKmodThenAf = {"kmod", "afpacket"};

// One request on one host: the engines to try and the line for the first.
struct Case {
    const char* what;
    bool loaded;
    std::string kmod_no, tc_no;
    AutoRequest req;
    Engines engines;
    std::string line;
};

TEST(AutoChoice, PicksByWhatIsAsked) {
    const std::string no_ko = "hookdump.ko not loaded; ";
    const std::string link = "-i eth0 names a link; hookdump.ko sees netfilter hooks; ";
    const std::string cheaper = "packets at eth0: the tap costs less than tc";
    const std::string in_kernel = "flows only at eth0: tc counts them in the kernel";
    const std::string rules = "the tap takes no --src/--dst/--sport/--dport/--proto rules";
    const std::string one_if = "tc needs one interface (-i IFACE)";
    const std::string any = "-i any: tc takes one interface";
    const std::string jump = "tc cannot run the expression: backward jump";
    const std::string not_rules = "cannot turn the expression into module rules: 'not'";
    const std::vector<Case> cases = {
        {"packets, no -i", false, "", "", {}, kAf, "afpacket (" + no_ko + one_if + ")"},
        {"flows, no -i",
         false,
         "",
         "",
         {.flows_only = true},
         kAf,
         "afpacket (" + no_ko + one_if + ")"},
        {"packets at a link",
         false,
         "",
         "",
         {.interface = "eth0"},
         kAf,
         "afpacket (" + no_ko + cheaper + ")"},
        {"flows only at a link",
         false,
         "",
         "",
         {.interface = "eth0", .flows_only = true},
         kTcThenAf,
         "tc (" + no_ko + in_kernel + ")"},
        {"packets with rules",
         false,
         "",
         "",
         {.interface = "eth0", .rule_options = true},
         kTcOnly,
         "tc (" + no_ko + rules + ")"},
        {"flows with rules",
         false,
         "",
         "",
         {.interface = "eth0", .rule_options = true, .flows_only = true},
         kTcOnly,
         "tc (" + no_ko + in_kernel + ")"},
        {"packets at any",
         false,
         "",
         "",
         {.interface = "any"},
         kAf,
         "afpacket (" + no_ko + any + ")"},
        {"flows at any",
         false,
         "",
         "",
         {.interface = "any", .flows_only = true},
         kAf,
         "afpacket (" + no_ko + any + ")"},
        {"flows, tc refuses",
         false,
         "",
         jump,
         {.interface = "eth0", .flows_only = true},
         kAf,
         "afpacket (" + no_ko + jump + ")"},
        {"packets, tc would refuse",
         false,
         "",
         jump,
         {.interface = "eth0"},
         kAf,
         "afpacket (" + no_ko + cheaper + ")"},
        {"module, no -i", true, "", "", {}, kKmodThenAf, "kmod (hookdump.ko is loaded)"},
        {"module, flows, no -i",
         true,
         "",
         "",
         {.flows_only = true},
         kKmodThenAf,
         "kmod (hookdump.ko is loaded)"},
        {"module, packets at a link",
         true,
         "",
         "",
         {.interface = "eth0"},
         kAf,
         "afpacket (" + link + cheaper + ")"},
        {"module, flows only at a link",
         true,
         "",
         "",
         {.interface = "eth0", .flows_only = true},
         kTcThenAf,
         "tc (" + link + in_kernel + ")"},
        {"module refuses the expression",
         true,
         not_rules,
         "",
         {},
         kAf,
         "afpacket (" + not_rules + "; " + one_if + ")"},
    };
    for (const Case& c : cases) {
        FakeHost host;
        host.loaded = c.loaded;
        host.kmod_no = c.kmod_no;
        host.tc_no = c.tc_no;
        const AutoPlan plan = plan_auto(c.req, host);
        EXPECT_EQ(plan.engines, c.engines) << c.what;
        EXPECT_EQ(auto_line(plan), "engine auto: " + c.line) << c.what;
        // tc is probed only where it would be the pick: flows only or rules at one link.
        const bool one_link = !c.req.interface.empty() && c.req.interface != "any";
        EXPECT_EQ(host.tc_probes, one_link && (c.req.flows_only || c.req.rule_options) ? 1 : 0)
            << c.what;
    }
}

// The pick's why is dropped when it fails to open (src/cli/engine_choice.cpp's open_auto):
// what the fallback's line then says.
TEST(AutoChoice, WhyIsThePicksOwn) {
    FakeHost host;
    const AutoPlan plan = plan_auto({.interface = "eth0", .flows_only = true}, host);
    EXPECT_EQ(plan.reasons, (std::vector<std::string>{"hookdump.ko not loaded"}));
    EXPECT_EQ(plan.why, "flows only at eth0: tc counts them in the kernel");
    EXPECT_EQ(auto_line("afpacket", {"hookdump.ko not loaded", "tc failed: EPERM"}),
              "engine auto: afpacket (hookdump.ko not loaded; tc failed: EPERM)");
}

TEST(AutoChoice, OptionsOfOneEngineDecide) {
    FakeHost host;
    host.loaded = true;
    AutoRequest req;
    req.interface = "eth0";
    req.engine_options = {{"--workers", "afpacket", "AF_PACKET's"},
                          {"--block-size", "afpacket", "AF_PACKET's"}};
    EXPECT_EQ(line(req, host), "engine auto: afpacket (--workers is AF_PACKET's)");
    EXPECT_EQ(host.probes, 0);  // nothing probed when an option decides
    req.flows_only = true;      // ... nor what is asked
    EXPECT_EQ(line(req, host), "engine auto: afpacket (--workers is AF_PACKET's)");
    req.engine_options = {{"--direction", "tc", "tc's"}};
    EXPECT_EQ(line(req, host), "engine auto: tc (--direction is tc's)");
    req.engine_options = {{"--hooks", "kmod", "hookdump.ko's"}};
    EXPECT_EQ(line(req, host), "engine auto: kmod (--hooks is hookdump.ko's)");
    req.engine_options = {{"--group", "nflog", "NFLOG's"}};
    EXPECT_EQ(line(req, host), "engine auto: nflog (--group is NFLOG's)");
    req.engine_options = {{"--xdp-mode", "xdp", "XDP's"}};
    EXPECT_EQ(line(req, host), "engine auto: xdp (--xdp-mode is XDP's)");
    req.engine_options = {{"--all-reasons", "drop", "drop's"}};
    EXPECT_EQ(line(req, host), "engine auto: drop (--all-reasons is drop's)");
}

TEST(AutoChoice, UsageErrors) {
    FakeHost host;
    AutoRequest req;
    req.engine_options = {{"--workers", "afpacket", "AF_PACKET's"}, {"--direction", "tc", "tc's"}};
    try {
        plan_auto(req, host);
        FAIL();
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(),
                     "--workers and --direction belong to different engines (afpacket, tc)");
    }
    req.engine_options = {{"--workers", "afpacket", "AF_PACKET's"}};
    req.rule_options = true;
    EXPECT_THROW(plan_auto(req, host), UsageError);
    // Rules without an engine that takes them.
    req.engine_options.clear();
    req.interface = "any";
    try {
        plan_auto(req, host);
        FAIL();
    } catch (const UsageError& e) {
        EXPECT_STREQ(e.what(),
                     "--src/--dst/--sport/--dport/--proto need hookdump.ko or tc (hookdump.ko not "
                     "loaded; -i any: tc "
                     "takes one interface); for AF_PACKET write them as the expression");
    }
    // ... but tc takes them, and AF_PACKET is then no fall back.
    req.interface = "eth0";
    EXPECT_EQ(plan_auto(req, host).engines, kTcOnly);
}

}  // namespace
}  // namespace hookdump
