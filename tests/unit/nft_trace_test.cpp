// trace's nft point without root: the ruleset listing parsed, the marking rules made from the
// rule model, and nft observations (the 20 transport bytes a trace message carries) joined to
// the packet the tap saw.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <optional>

#include "trace/correlator.h"
#include "trace/nft_ruleset.h"
#include "trace/nft_tracer.h"
#include "trace_test_util.h"

namespace hookdump::trace {
namespace {

constexpr const char* kListing = R"(table inet f { # handle 2
	set s { # handle 3
		type ipv4_addr
		elements = { 198.18.0.9 }
	}

	chain in { # handle 1
		type filter hook input priority 0; policy accept;
		ip saddr @s counter drop # handle 4
		udp dport { 7777, 7778 } counter drop # handle 5
		jump sub # handle 7
	}

	chain sub { # handle 6
		tcp dport 22 accept # handle 8
	}
}
table inet hookdump_trace_4242 { # handle 9
	chain pre { # handle 1
		type filter hook prerouting priority -2147483648; policy accept;
	}
}
table ip hookdump_trace_x { # handle 10
}
)";

TEST(NftRuleset, ChainsRulesAndTraceTables) {
    const auto rs = NftRuleset::parse(kListing);
    ASSERT_NE(rs.chain("inet", "f", "in"), nullptr);
    EXPECT_EQ(rs.chain("inet", "f", "in")->hook, "input");
    EXPECT_EQ(rs.chain("inet", "f", "in")->priority, 0);
    ASSERT_NE(rs.chain("inet", "f", "sub"), nullptr);
    EXPECT_EQ(rs.chain("inet", "f", "sub")->hook, "");
    EXPECT_EQ(rs.chain("inet", "hookdump_trace_4242", "pre")->priority, INT32_MIN);
    EXPECT_EQ(rs.chain("inet", "f", "s"), nullptr);  // a set is no chain
    EXPECT_EQ(*rs.rule("inet", "f", 4), "ip saddr @s counter drop");
    EXPECT_EQ(*rs.rule("inet", "f", 5), "udp dport { 7777, 7778 } counter drop");
    EXPECT_EQ(*rs.rule("inet", "f", 8), "tcp dport 22 accept");
    EXPECT_EQ(rs.rule("inet", "f", 3), nullptr);
    using T = std::tuple<std::string, std::string, int>;
    EXPECT_EQ(rs.trace_tables(), (std::vector<T>{{"inet", "hookdump_trace_4242", 4242}}));
}

TEST(NftRuleset, MarkingRulesFromTheRuleModel) {
    std::string note;
    EXPECT_EQ(
        nft_trace_table_commands(7, "udp and dst port 53", note),
        "add table inet hookdump_trace_7\n"
        "add chain inet hookdump_trace_7 pre { type filter hook prerouting priority "
        "-2147483648; policy accept; }\n"
        "add rule inet hookdump_trace_7 pre meta l4proto 17 th dport 53 meta nftrace set 1\n"
        "add chain inet hookdump_trace_7 out { type filter hook output priority "
        "-2147483648; policy accept; }\n"
        "add rule inet hookdump_trace_7 out meta l4proto 17 th dport 53 meta nftrace set 1\n");
    EXPECT_EQ(note, "");
    const auto cmds =
        nft_trace_table_commands(7, "src net 198.18.0.0/15 or host 2001:db8::1", note);
    EXPECT_NE(cmds.find("pre ip saddr 198.18.0.0/15 meta nftrace set 1\n"), std::string::npos)
        << cmds;
    EXPECT_NE(cmds.find("pre ip6 saddr 2001:db8::1 meta nftrace set 1\n"), std::string::npos)
        << cmds;
    EXPECT_NE(cmds.find("pre ip6 daddr 2001:db8::1 meta nftrace set 1\n"), std::string::npos)
        << cmds;
    // Outside the subset: every packet is marked, and the note says so.
    const auto all = nft_trace_table_commands(7, "udp[8] = 1", note);
    EXPECT_NE(all.find("add rule inet hookdump_trace_7 pre meta nftrace set 1\n"),
              std::string::npos);
    EXPECT_TRUE(note.starts_with("nft: every packet is marked for tracing (")) << note;
}

TEST(NftRuleset, Verdicts) {
    EXPECT_EQ(nft_verdict_name(0), "drop");
    EXPECT_EQ(nft_verdict_name(1), "accept");
    EXPECT_EQ(nft_verdict_name(static_cast<uint32_t>(-3)), "jump");
    EXPECT_EQ(nft_verdict_name(0x00050003), "queue");
    EXPECT_EQ(nft_hook_point("input"), "LOCAL_IN");
    EXPECT_EQ(nft_hook_point("forward"), "FORWARD");
}

Observation raw(const std::vector<uint8_t>& bytes, CapturePoint pt, uint64_t ts) {
    return test::observe_ip(bytes, pt, ts);
}

TEST(NftCorrelation, TraceMessageJoinsThePacketAndNamesTheRule) {
    constexpr uint64_t t0 = 1'700'000'000'000'000'000ull;
    const auto pkt = test::udp4("198.18.0.2", "198.18.0.1", 40000, 7777, 77, 32, 0x5a);
    // What the trace message carries: the IP header and 20 bytes from the UDP header.
    const std::vector<uint8_t> headers(pkt.begin(), pkt.begin() + 20 + 20);
    // The short key over those bytes is the one the whole packet has.
    auto n = raw(headers, CapturePoint::LocalIn, t0 + 30'000);
    EXPECT_EQ(n.short_key, raw(pkt, CapturePoint::TcIngress, t0).short_key);
    n.partial = true;
    n.key = n.short_key;
    n.nft = NftStep{"inet", "f", "in", "input", 0, 3, "udp dport 7777 counter drop", "drop"};

    Correlator c({.window_ns = 200'000'000, .both_slots = false});
    c.add(raw(pkt, CapturePoint::TcIngress, t0));
    c.add(n);
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    const auto& p = done[0];
    EXPECT_EQ(p.fate, Fate::Dropped);
    EXPECT_EQ(p.dropped_at, "LOCAL_IN");
    EXPECT_EQ(format_path(p, false),
              "tc-ingress → nft inet f in: drop ✗ dropped at LOCAL_IN by nft inet f in handle 3: "
              "udp dport 7777 counter drop");
    const std::string j = to_json(p);
    EXPECT_NE(
        j.find(
            R"("point":"nft","nft":{"family":"inet","table":"f","chain":"in","hook":"LOCAL_IN","priority":0,"handle":3,"rule":"udp dport 7777 counter drop","verdict":"drop"})"),
        std::string::npos)
        << j;
}

// The trace message is stamped when read: 31 ms after the kernel's drop report (seen in a 6.12
// TCG guest) it still goes before kfree_skb, where the rule dropped the packet.
TEST(NftCorrelation, ALateTraceMessageStillPrecedesTheDrop) {
    constexpr uint64_t t0 = 1'700'000'000'000'000'000ull;
    const auto pkt = test::udp4("198.18.0.2", "198.18.0.1", 40000, 7009, 78, 32, 0x5a);
    const std::vector<uint8_t> headers(pkt.begin(), pkt.begin() + 20 + 20);
    auto n = raw(headers, CapturePoint::LocalIn, t0 + 32'000'000);
    n.partial = true;
    n.key = n.short_key;
    n.nft = NftStep{"inet", "f", "in", "input", 0, 2, "udp dport 7009 drop", "drop"};
    auto d = raw(pkt, CapturePoint::Drop, t0 + 1'000'000);
    d.drop = true;
    d.reason = "NETFILTER_DROP";

    Correlator c({.window_ns = 200'000'000, .both_slots = false});
    c.add(raw(pkt, CapturePoint::TcIngress, t0));
    c.add(d);
    c.add(n);
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    const auto& path = done[0].path;
    ASSERT_EQ(path.size(), 3u);
    EXPECT_TRUE(path[1].nft.has_value());
    EXPECT_TRUE(path[2].drop);
}

constexpr int32_t kNfDrop = 0, kNfAccept = 1;  // linux/netfilter.h clashes with netinet/in.h

// One NFT_MSG_TRACE message as the kernel sends it (nf_tables_trace.c): the verdict nested for
// a rule's or the end of the rules' (RETURN), the policy for the chain's; the headers only when
// given (the first message of each base chain).
std::vector<char> trace_message(uint8_t family, const char* table, const char* chain, uint32_t id,
                                uint32_t type, int32_t verdict, uint64_t handle,
                                const std::vector<uint8_t>& headers) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = family;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    mnl_attr_put_strz(nlh, NFTA_TRACE_TABLE, table);
    mnl_attr_put_strz(nlh, NFTA_TRACE_CHAIN, chain);
    mnl_attr_put_u32(nlh, NFTA_TRACE_ID, htonl(id));
    mnl_attr_put_u32(nlh, NFTA_TRACE_TYPE, htonl(type));
    if (type == NFT_TRACETYPE_POLICY) {
        mnl_attr_put_u32(nlh, NFTA_TRACE_POLICY, htonl(static_cast<uint32_t>(verdict)));
    } else {
        if (handle) mnl_attr_put_u64(nlh, NFTA_TRACE_RULE_HANDLE, htobe64(handle));
        nlattr* nest = mnl_attr_nest_start(nlh, NFTA_TRACE_VERDICT);
        mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(static_cast<uint32_t>(verdict)));
        mnl_attr_nest_end(nlh, nest);
    }
    if (!headers.empty()) {
        mnl_attr_put(nlh, NFTA_TRACE_NETWORK_HEADER, 20, headers.data());
        mnl_attr_put(nlh, NFTA_TRACE_TRANSPORT_HEADER, headers.size() - 20, headers.data() + 20);
    }
    buf.resize(nlh->nlmsg_len);
    return buf;
}

const nlmsghdr* msg(const std::vector<char>& m) {
    return reinterpret_cast<const nlmsghdr*>(m.data());
}

constexpr const char* kNatListing = R"(table ip hdnat { # handle 5
	chain pre { # handle 1
		type nat hook prerouting priority -100; policy accept;
		udp dport 8080 dnat to 198.18.2.2:9090 # handle 3
	}
	chain in { # handle 2
		type filter hook input priority 0; policy accept;
		counter # handle 4
		udp dport 7009 drop # handle 6
	}
}
)";

std::vector<uint8_t> headers_of(const std::vector<uint8_t>& pkt) {
    return {pkt.begin(), pkt.begin() + 20 + 20};
}

// A chain where no rule decides (the nat chain of a forwarded datagram in
// tests/vm/cases/91_trace_forward_nat.sh): the kernel sends the end of the rules with the
// headers, then the policy's verdict without them. The policy step is the observation.
TEST(NftTraceDecoder, ThePolicyVerdictHasTheHeadersOfTheChainsFirstMessage) {
    constexpr uint64_t t0 = 1'700'000'000'000'000'000ull;
    const auto pkt = test::udp4("198.18.1.2", "198.18.2.2", 41000, 7020, 91, 16, 0x5a);
    NftTraceDecoder d("hookdump_trace_1", "udp", NftRuleset::parse(kNatListing), nullptr);
    const auto ret = trace_message(2, "hdnat", "pre", 0x1234, NFT_TRACETYPE_RETURN, NFT_CONTINUE, 0,
                                   headers_of(pkt));
    const auto policy =
        trace_message(2, "hdnat", "pre", 0x1234, NFT_TRACETYPE_POLICY, kNfAccept, 0, {});
    EXPECT_FALSE(d.decode(msg(ret), t0 + 1000).has_value());
    auto o = d.decode(msg(policy), t0 + 2000);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(d.pending(), 0u);
    ASSERT_TRUE(o->nft.has_value());
    EXPECT_EQ(*o->nft, (NftStep{"ip", "hdnat", "pre", "prerouting", -100, 0, "", "accept"}));
    EXPECT_EQ(o->point, CapturePoint::PreRouting);
    EXPECT_EQ(o->short_key, raw(pkt, CapturePoint::TcIngress, t0).short_key);

    Correlator c({.window_ns = 200'000'000, .both_slots = false});
    c.add(raw(pkt, CapturePoint::TcIngress, t0));
    c.add(*o);
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(format_path(done[0], false), "tc-ingress → nft ip hdnat pre: accept");
    const std::string j = to_json(done[0]);
    EXPECT_NE(
        j.find(
            R"("nft":{"family":"ip","table":"hdnat","chain":"pre","hook":"PRE_ROUTING","priority":-100,"policy":true,"verdict":"accept"})"),
        std::string::npos)
        << j;
}

// A rule that lets the packet go on (counter) is the chain's first message, with the headers;
// the dropping rule's message after it has none, and still names the rule.
TEST(NftTraceDecoder, ARuleAfterAContinuingOneIsNamed) {
    constexpr uint64_t t0 = 1'700'000'000'000'000'000ull;
    const auto pkt = test::udp4("198.18.0.2", "198.18.0.1", 40000, 7009, 92, 16, 0x5a);
    NftTraceDecoder d("hookdump_trace_1", "", NftRuleset::parse(kNatListing), nullptr);
    const auto counter =
        trace_message(2, "hdnat", "in", 7, NFT_TRACETYPE_RULE, NFT_CONTINUE, 4, headers_of(pkt));
    const auto drop = trace_message(2, "hdnat", "in", 7, NFT_TRACETYPE_RULE, kNfDrop, 6, {});
    EXPECT_FALSE(d.decode(msg(counter), t0).has_value());
    auto o = d.decode(msg(drop), t0 + 10);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(*o->nft,
              (NftStep{"ip", "hdnat", "in", "input", 0, 6, "udp dport 7009 drop", "drop"}));
    EXPECT_EQ(o->point, CapturePoint::LocalIn);
}

// The marking table's own messages and packets the expression does not select are not steps.
TEST(NftTraceDecoder, OwnTableAndUnselectedPacketsAreNotSteps) {
    const auto pkt = test::udp4("198.18.0.2", "198.18.0.1", 40000, 7009, 93, 16, 0x5a);
    NftTraceDecoder d("hookdump_trace_1", "tcp", NftRuleset::parse(kNatListing), nullptr);
    const auto own = trace_message(1, "hookdump_trace_1", "pre", 8, NFT_TRACETYPE_POLICY, kNfAccept,
                                   0, headers_of(pkt));
    EXPECT_FALSE(d.decode(msg(own), 1).has_value());
    const auto udp =
        trace_message(2, "hdnat", "in", 9, NFT_TRACETYPE_RULE, kNfDrop, 6, headers_of(pkt));
    EXPECT_FALSE(d.decode(msg(udp), 2).has_value());
    EXPECT_EQ(d.pending(), 0u);
}

}  // namespace
}  // namespace hookdump::trace
