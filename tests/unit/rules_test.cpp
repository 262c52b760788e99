// The rule model (src/rules/): options and the expression subset into rules, what a rule
// says of itself, and what cannot be expressed.
#include <gtest/gtest.h>

#include "hookdump.h"
#ifdef HOOKDUMP_HAVE_BPF
#include <arpa/inet.h>

#include "rules/bpf_rules.h"
#endif
#include "rules/rule.h"
#include "util/error.h"

namespace hookdump {
namespace {

std::vector<std::string> described(const std::vector<Rule>& rules) {
    std::vector<std::string> out;
    for (const Rule& r : rules) out.push_back(r.describe());
    return out;
}

std::vector<Rule> expr(const std::string& e) {
    return rules_from_expression(e, Rule{});
}

std::string usage_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const UsageError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Rules, Prefixes) {
    const Prefix a = parse_prefix("198.18.0.1");
    EXPECT_EQ(a.family, 4);
    EXPECT_EQ(a.len, 32);
    EXPECT_EQ((std::vector<uint8_t>(a.addr.begin(), a.addr.begin() + 4)),
              (std::vector<uint8_t>{198, 18, 0, 1}));
    const Prefix b = parse_prefix("2001:db8::/32");
    EXPECT_EQ(b.family, 6);
    EXPECT_EQ(b.len, 32);
    EXPECT_EQ(b.addr[0], 0x20);
    EXPECT_EQ(b.addr[3], 0xb8);
    EXPECT_EQ(usage_error([] { parse_prefix("198.18.0.0/33"); }),
              "bad prefix length in '198.18.0.0/33'");
    EXPECT_EQ(usage_error([] { parse_prefix("nope"); }), "not an IPv4 or IPv6 address: 'nope'");
}

TEST(Rules, ExpressionAlternatives) {
    EXPECT_EQ(described(expr("src net 198.18.0.0/24 and udp dst port 5001 or tcp")),
              (std::vector<std::string>{
                  "id 0 ip src 198.18.0.0/24 proto 17 dport 5001 hooks "
                  "prerouting,input,forward,output,postrouting priority first hits 0 owner none",
                  "id 0 proto 6 hooks prerouting,input,forward,output,postrouting priority first "
                  "hits 0 owner none"}));
    // host: either side; port: either side; and: every combination that can hold.
    const auto r = expr("host 2001:db8::1 and portrange 1000-2000");
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].family, 6);
    EXPECT_TRUE(r[0].src && !r[0].dst);
    EXPECT_EQ(r[0].sport_min, 1000);
    EXPECT_EQ(r[0].sport_max, 2000);
    EXPECT_EQ(r[0].dport_max, 0xffff);
    EXPECT_TRUE(r[3].dst && !r[3].src);
    EXPECT_EQ(r[3].dport_min, 1000);
    // The narrower of two nested prefixes; icmp is IPv4's, icmp6 IPv6's.
    const auto n = expr("src net 198.18.0.0/15 and src host 198.18.0.7 and icmp");
    ASSERT_EQ(n.size(), 1u);
    EXPECT_EQ(n[0].src->len, 32);
    EXPECT_EQ(n[0].family, 4);
    EXPECT_EQ(*n[0].proto, 1);
    EXPECT_EQ(expr("icmp6")[0].family, 6);
    EXPECT_EQ(expr("proto 47")[0].proto, 47);
    EXPECT_EQ(expr("")[0], Rule{});
}

TEST(Rules, ExpressionRefusals) {
    EXPECT_EQ(usage_error([] { expr("not tcp"); }),
              "cannot turn the expression into module rules: 'not' has no module rule (rules "
              "only select)");
    EXPECT_EQ(usage_error([] { expr("ip and ip6"); }),
              "cannot turn the expression into module rules: the conditions contradict each "
              "other");
    EXPECT_EQ(usage_error([] { expr("src net 198.18.0.0/24 and src net 198.19.0.0/24"); }),
              "cannot turn the expression into module rules: the conditions contradict each "
              "other");
    EXPECT_EQ(usage_error([] { expr("host 198.18.0.0/24"); }),
              "cannot turn the expression into module rules: 'host' takes an address, use 'net'");
    EXPECT_EQ(usage_error([] { expr("vlan 100"); }),
              "cannot turn the expression into module rules: 'vlan' is not in the subset the "
              "module understands (host, net, port, portrange, src/dst, tcp, udp, icmp, icmp6, "
              "sctp, proto N, ip, ip6, and, or)");
    // HOOKDUMP_MAX_RULES alternatives at the most.
    std::string e = "port 1";
    for (int i = 2; i <= HOOKDUMP_MAX_RULES / 2; ++i) e += " or port " + std::to_string(i);
    EXPECT_EQ(expr(e).size(), static_cast<size_t>(HOOKDUMP_MAX_RULES));
    EXPECT_EQ(usage_error([&] { expr(e + " or tcp"); }),
              "cannot turn the expression into module rules: more than 64 rules");
}

TEST(Rules, Options) {
    RuleOptions o;
    EXPECT_FALSE(o.has_conditions());
    o.src = "198.18.0.0/15";
    o.dport = "5000-5010";
    o.proto = "udplite";
    o.hooks = "pre-routing,local-in";
    o.priority = "-150";
    o.snaplen = 128;
    EXPECT_TRUE(o.has_conditions());
    const auto r = rules_from_options(o, "dst host 198.18.0.1 or dst host 198.18.0.2");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1].describe(),
              "id 0 ip src 198.18.0.0/15 dst 198.18.0.2/32 proto 136 dport 5000-5010 hooks "
              "prerouting,input priority -150 snaplen 128 hits 0 owner none");
    EXPECT_EQ(r[0].slots, 1u << HOOKDUMP_SLOT_CUSTOM);
    EXPECT_EQ(r[0].priority, -150);
    EXPECT_EQ(r[0].hooks, (1u << HOOKDUMP_HOOK_PRE_ROUTING) | (1u << HOOKDUMP_HOOK_LOCAL_IN));

    RuleOptions bad;
    bad.src = "198.18.0.1";
    bad.dst = "2001:db8::1";
    EXPECT_EQ(usage_error([&] { rules_from_options(bad, ""); }),
              "--src and --dst are of different families");
    bad = RuleOptions{};
    bad.sport = "1-x";
    EXPECT_EQ(usage_error([&] { rules_from_options(bad, ""); }),
              "--sport takes PORT or LOW-HIGH, not '1-x'");
    bad = RuleOptions{};
    bad.proto = "300";
    EXPECT_EQ(usage_error([&] { rules_from_options(bad, ""); }),
              "--proto takes a name or a number 0-255, not '300'");
    bad = RuleOptions{};
    bad.hooks = "ingress";
    EXPECT_EQ(usage_error([&] { rules_from_options(bad, ""); }),
              "unknown hook 'ingress' (prerouting, input, forward, output, postrouting, all)");
}

TEST(Rules, MatchesEverything) {
    Rule r;
    EXPECT_TRUE(r.matches_everything());
    r.hooks = 1;  // the module's hooks and slots are no condition on the packet
    r.slots = 2;
    r.snaplen = 64;
    EXPECT_TRUE(r.matches_everything());
    for (const char* e : {"ip", "tcp", "port 1", "src port 1", "net 198.18.0.0/15"})
        for (const Rule& x : expr(e)) EXPECT_FALSE(x.matches_everything()) << e;
}

#ifdef HOOKDUMP_HAVE_BPF
// The BPF programs' matcher (bpf/hookdump_rule.h, the same C the programs run) on the
// converter's rules: every condition, and a set matching when one rule does.
hd_tuple tuple4(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport,
                bool ports = true) {
    hd_tuple t{};
    inet_pton(AF_INET, src, &t.src[0]);
    inet_pton(AF_INET, dst, &t.dst[0]);
    t.family = 4;
    t.proto = proto;
    t.sport = ports ? sport : 0;
    t.dport = ports ? dport : 0;
    t.flags = HOOKDUMP_EV_IP | (ports ? HOOKDUMP_EV_PORTS : 0);
    return t;
}

bool matches(const std::vector<hd_rule>& rules, const hd_tuple& t) {
    if (rules.empty()) return true;
    for (const hd_rule& r : rules)
        if (hd_rule_match(&r, &t)) return true;
    return false;
}

std::vector<hd_rule> bpf_rules(const std::string& e) {
    return to_bpf_rules(expr(e), HOOKDUMP_MAX_RULES, "the tc/XDP programs");
}

TEST(Rules, BpfEncoding) {
    const auto r = bpf_rules("src net 198.18.0.0/15 and udp dst portrange 5000-5010");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].flags, HD_RULE_SRC | HD_RULE_PROTO | HD_RULE_DPORT);
    EXPECT_EQ(r[0].family, 4);
    EXPECT_EQ(r[0].proto, 17);
    EXPECT_EQ(r[0].src[0], htonl(0xc6120000));
    EXPECT_EQ(r[0].src_mask[0], htonl(0xfffe0000));
    EXPECT_EQ(r[0].src_mask[1] | r[0].src_mask[2] | r[0].src_mask[3], 0u);
    EXPECT_EQ(r[0].dport_min, 5000);
    EXPECT_EQ(r[0].dport_max, 5010);
    const auto six = bpf_rules("dst net 2001:db8::/33");
    ASSERT_EQ(six.size(), 1u);
    EXPECT_EQ(six[0].flags, HD_RULE_DST);
    EXPECT_EQ(six[0].family, 6);
    EXPECT_EQ(six[0].dst_mask[0], 0xffffffffu);
    EXPECT_EQ(six[0].dst_mask[1], htonl(0x80000000));
    // A rule with no condition on the packet: no rule at all (every packet, IP or not).
    EXPECT_TRUE(bpf_rules("").empty());
    Rule hooks_only;
    hooks_only.hooks = 1;
    EXPECT_TRUE(to_bpf_rules({Rule{}, hooks_only}, 1, "x").empty());
    // Prefixes of two families in one rule (the model refuses it; a rule built by hand): none.
    Rule mixed;
    mixed.src = parse_prefix("198.18.0.1");
    mixed.dst = parse_prefix("2001:db8::1");
    EXPECT_EQ(to_bpf_rules({mixed}, 1, "x")[0].family, 0xff);
    std::string e = "port 1";
    for (int i = 2; i <= 9; ++i) e += " or port " + std::to_string(i);
    EXPECT_EQ(
        usage_error([&] { to_bpf_rules(expr(e), HOOKDUMP_DROP_MAX_RULES, "the drop program"); }),
        "the expression and options make 18 rules; at most 16 fit in the drop program");
}

TEST(Rules, BpfMatcher) {
    const auto r = bpf_rules("src net 198.18.0.0/24 and udp dst port 5001 or tcp or ip6");
    EXPECT_TRUE(matches(r, tuple4("198.18.0.2", "198.18.1.1", 17, 40000, 5001)));
    EXPECT_FALSE(matches(r, tuple4("198.18.0.2", "198.18.1.1", 17, 40000, 5002)));
    EXPECT_FALSE(matches(r, tuple4("198.18.1.2", "198.18.1.1", 17, 40000, 5001)));  // not the /24
    EXPECT_FALSE(matches(r, tuple4("198.18.0.2", "198.18.1.1", 17, 0, 0, false)));  // no ports
    EXPECT_TRUE(matches(r, tuple4("198.19.0.1", "198.19.0.2", 6, 1, 2)));
    EXPECT_TRUE(matches(r, tuple4("198.19.0.1", "198.19.0.2", 6, 0, 0, false)));  // a fragment
    EXPECT_FALSE(matches(r, tuple4("198.18.0.2", "198.18.0.1", 1, 0, 0, false)));
    hd_tuple v6{};
    v6.family = 6;
    v6.flags = HOOKDUMP_EV_IP;
    EXPECT_TRUE(matches(r, v6));
    hd_tuple not_ip{};
    EXPECT_FALSE(matches(r, not_ip));
    EXPECT_TRUE(matches({}, not_ip));  // no rule: everything
    // An IPv4 prefix says IPv4: an IPv6 address with the same first bytes is not in it.
    hd_tuple look_alike = v6;
    inet_pton(AF_INET, "198.18.0.2", &look_alike.src[0]);
    look_alike.proto = 17;
    look_alike.dport = 5001;
    look_alike.flags |= HOOKDUMP_EV_PORTS;
    EXPECT_FALSE(matches(bpf_rules("src net 198.18.0.0/24 and udp dst port 5001"), look_alike));
    const auto sp = bpf_rules("src portrange 10-20");
    EXPECT_FALSE(matches(sp, tuple4("198.18.0.2", "198.18.0.1", 17, 9, 1)));
    EXPECT_TRUE(matches(sp, tuple4("198.18.0.2", "198.18.0.1", 17, 10, 1)));
    EXPECT_TRUE(matches(sp, tuple4("198.18.0.2", "198.18.0.1", 17, 20, 1)));
    EXPECT_FALSE(matches(sp, tuple4("198.18.0.2", "198.18.0.1", 17, 21, 1)));
}
#endif

}  // namespace
}  // namespace hookdump
