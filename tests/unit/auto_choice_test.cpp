// --engine auto's decision (src/engine/auto_choice.h) against a fake host: the order module,
// tc, AF_PACKET; options that decide outright; the reasons in the stderr line; usage errors.
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
    int probes = 0;
    bool kmod_loaded() override {
        ++probes;
        return loaded;
    }
    std::string kmod_refuses(const std::string&) override { return kmod_no; }
    std::string tc_refuses(const std::string&, const std::string&) override { return tc_no; }
};

std::string line(const AutoRequest& req, FakeHost& host) {
    const AutoPlan p = plan_auto(req, host);
    return auto_line(p.engines.front(), p.reasons);
}

TEST(AutoChoice, ModuleThenTcThenAfpacket) {
    FakeHost host;
    AutoRequest req;
    EXPECT_EQ(line(req, host),
              "engine auto: afpacket (hookdump.ko not loaded; tc needs one interface (-i IFACE))");
    req.interface = "eth0";
    EXPECT_EQ(line(req, host), "engine auto: tc (hookdump.ko not loaded)");
    EXPECT_EQ(plan_auto(req, host).engines, (std::vector<std::string>{"tc", "afpacket"}));
    req.interface = "any";
    EXPECT_EQ(line(req, host),
              "engine auto: afpacket (hookdump.ko not loaded; -i any: tc takes one interface)");

    host.loaded = true;
    req.interface.clear();
    EXPECT_EQ(line(req, host), "engine auto: kmod (hookdump.ko is loaded)");
    EXPECT_EQ(plan_auto(req, host).engines, (std::vector<std::string>{"kmod", "afpacket"}));
    // A named link: its frames (tc), not netfilter hooks.
    req.interface = "eth0";
    EXPECT_EQ(line(req, host),
              "engine auto: tc (-i eth0 names a link; hookdump.ko sees netfilter hooks)");
    req.interface.clear();
    host.kmod_no = "cannot turn the expression into module rules: 'not'";
    EXPECT_EQ(line(req, host),
              "engine auto: afpacket (cannot turn the expression into module rules: 'not'; tc "
              "needs one interface "
              "(-i IFACE))");
}

TEST(AutoChoice, TcRefusalsFallToAfpacket) {
    FakeHost host;
    host.tc_no = "tc cannot run the expression: backward jump";
    AutoRequest req;
    req.interface = "eth0";
    EXPECT_EQ(line(req, host),
              "engine auto: afpacket (hookdump.ko not loaded; tc cannot run the expression: "
              "backward jump)");
    EXPECT_EQ(plan_auto(req, host).engines, (std::vector<std::string>{"afpacket"}));
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
    EXPECT_EQ(plan_auto(req, host).engines, (std::vector<std::string>{"tc"}));
}

}  // namespace
}  // namespace hookdump
