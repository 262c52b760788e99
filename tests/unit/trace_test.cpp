// hookdump trace's correlation, fates, path text, JSON and report, on synthetic events.
#include <gtest/gtest.h>

#include "packet/builder.h"
#include "trace/correlator.h"
#include "trace/html_report.h"
#include "trace_test_util.h"

namespace hookdump::trace {
namespace {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;
constexpr uint64_t kUs = 1000;

struct Ev {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

using test::udp4;

Observation obs(const std::vector<uint8_t>& ip, CapturePoint pt, PrioritySlot slot, uint64_t ts,
                const char* ifname = "", Verdict v = Verdict::Unknown) {
    return test::observe_ip(ip, pt, ts, slot, ifname, v);
}

Observation tap(const std::vector<uint8_t>& ip, CapturePoint pt, uint64_t ts, const char* ifname) {
    // The tap sees the Ethernet frame: same packet, link header in front.
    static std::vector<std::vector<uint8_t>> keep;
    std::vector<uint8_t> frame = PacketBuilder().ethernet().build();
    frame.resize(12);
    frame.push_back(0x08);
    frame.push_back(0x00);
    frame.insert(frame.end(), ip.begin(), ip.end());
    keep.push_back(frame);
    PacketEvent ev;
    ev.ts_ns = ts;
    ev.point = pt;
    ev.linktype = 1;
    ev.bytes = keep.back();
    ev.len = static_cast<uint32_t>(frame.size());
    ev.ifname.assign(ifname);
    ev.ifindex = 2;
    Observation o;
    EXPECT_TRUE(observe(ev, o));
    return o;
}

TEST(TraceKey, SurvivesNatAndLinkLayer) {
    const auto before = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 7);
    const auto after = udp4("198.18.0.1", "198.18.1.2", 1000, 8080, 7);
    const auto o1 = tap(before, CapturePoint::TapIn, kT0, "veth0");
    const auto o2 = obs(after, CapturePoint::PreRouting, PrioritySlot::Last, kT0);
    EXPECT_TRUE(o1.key.strong);
    EXPECT_EQ(o1.key, o2.key);
    EXPECT_EQ(o1.l3len, 60u);
    EXPECT_NE(o1.tuple, o2.tuple);
    // Another IP id or another payload: another packet.
    EXPECT_NE(o1.key, obs(udp4("198.18.0.1", "198.18.0.2", 1000, 80, 8), CapturePoint::PreRouting,
                          PrioritySlot::First, kT0)
                          .key);
    EXPECT_NE(o1.key, obs(udp4("198.18.0.1", "198.18.0.2", 1000, 80, 7, 0xcd),
                          CapturePoint::PreRouting, PrioritySlot::First, kT0)
                          .key);
}

TEST(TraceKey, Ipv6FlowLabelAndTcpSequence) {
    auto mk = [](uint32_t label, uint32_t seq) {
        return PacketBuilder()
            .ipv6("2001:db8::1", "2001:db8::2", 64, label)
            .tcp(1, 2, 0x10, seq, 5)
            .build();
    };
    const auto a = obs(mk(0x12345, 100), CapturePoint::LocalOut, PrioritySlot::First, kT0);
    EXPECT_TRUE(a.key.strong);
    EXPECT_EQ(a.key, obs(mk(0x12345, 100), CapturePoint::PostRouting, PrioritySlot::Last, kT0).key);
    EXPECT_NE(a.key, obs(mk(0x12346, 100), CapturePoint::LocalOut, PrioritySlot::First, kT0).key);
    EXPECT_NE(a.key, obs(mk(0x12345, 101), CapturePoint::LocalOut, PrioritySlot::First, kT0).key);
}

TEST(Trace, DroppedInLocalIn) {
    Correlator c;
    const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 7);
    c.add(tap(p, CapturePoint::TapIn, kT0, "veth0"));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0 + 5 * kUs));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + 6 * kUs));
    c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::First, kT0 + 9 * kUs));
    auto drop =
        obs(p, CapturePoint::Unknown, PrioritySlot::None, kT0 + 10 * kUs, "", Verdict::Drop);
    drop.reason = "NETFILTER_DROP";
    drop.location = "nft_do_chain+0x1a3";
    c.add(drop);
    EXPECT_TRUE(c.take_done(kT0 + 100 * kUs).empty());  // still within the window
    auto done = c.take_done(kT0 + 1'000'000'000);
    ASSERT_EQ(done.size(), 1u);
    const auto& t = done[0];
    EXPECT_EQ(t.fate, Fate::Dropped);
    EXPECT_EQ(t.dropped_at, "LOCAL_IN");
    EXPECT_EQ(format_path(t),
              "tap-in veth0 → PRE_ROUTING → LOCAL_IN(first) ✗ dropped between LOCAL_IN first and "
              "last priority "
              "(reason NETFILTER_DROP at nft_do_chain+0x1a3)");
    const std::string j = to_json(t);
    EXPECT_NE(
        j.find("\"fate\":\"dropped\",\"dropped_at\":\"LOCAL_IN\",\"reason\":\"NETFILTER_DROP\""),
        std::string::npos)
        << j;
    EXPECT_NE(j.find("{\"point\":\"tap-in\",\"ifname\":\"veth0\""), std::string::npos) << j;
    EXPECT_NE(j.find("\"tuple\":{\"src\":\"198.18.0.1\",\"dst\":\"198.18.0.2\",\"sport\":1000,"
                     "\"dport\":80,\"proto\":17}"),
              std::string::npos)
        << j;
}

TEST(Trace, OutOfOrderArrivalAndClockSkew) {
    // Engines deliver late and their clocks disagree by microseconds: the stack order wins.
    Correlator c;
    const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 9);
    c.add(obs(p, CapturePoint::PostRouting, PrioritySlot::Last, kT0 + 20 * kUs));
    c.add(obs(p, CapturePoint::LocalOut, PrioritySlot::First, kT0 + 10 * kUs));
    c.add(tap(p, CapturePoint::TapOut, kT0 + 19 * kUs, "veth0"));  // earlier clock, later point
    c.add(obs(p, CapturePoint::PostRouting, PrioritySlot::First, kT0 + 15 * kUs));
    c.add(obs(p, CapturePoint::LocalOut, PrioritySlot::Last, kT0 + 11 * kUs));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].fate, Fate::Sent);
    EXPECT_EQ(format_path(done[0]), "LOCAL_OUT → POST_ROUTING → tap-out veth0 ✓ sent");
}

TEST(Trace, NatShownWhereItHappens) {
    Correlator c;
    const auto in = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 3);
    const auto dnat = udp4("198.18.0.1", "198.18.2.2", 1000, 8080, 3);
    const auto snat = udp4("198.18.2.1", "198.18.2.2", 40000, 8080, 3);
    c.add(tap(in, CapturePoint::TapIn, kT0, "veth0"));
    c.add(obs(in, CapturePoint::PreRouting, PrioritySlot::First, kT0 + 1 * kUs));
    c.add(obs(dnat, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + 2 * kUs));
    c.add(obs(dnat, CapturePoint::Forward, PrioritySlot::First, kT0 + 3 * kUs));
    c.add(obs(dnat, CapturePoint::Forward, PrioritySlot::Last, kT0 + 4 * kUs));
    c.add(obs(dnat, CapturePoint::PostRouting, PrioritySlot::First, kT0 + 5 * kUs));
    c.add(obs(snat, CapturePoint::PostRouting, PrioritySlot::Last, kT0 + 6 * kUs));
    c.add(tap(snat, CapturePoint::TapOut, kT0 + 7 * kUs, "veth1"));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].fate, Fate::Forwarded);
    EXPECT_EQ(format_path(done[0]),
              "tap-in veth0 → PRE_ROUTING [dst 198.18.0.2:80 → 198.18.2.2:8080] → FORWARD → "
              "POST_ROUTING [src 198.18.0.1:1000 → 198.18.2.1:40000] → tap-out veth1 ✓ forwarded");
}

TEST(Trace, IdenticalPacketsAreToldApartAndMarked) {
    Correlator c;
    const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 5);
    // Two copies in one burst: both pass PRE_ROUTING, one is delivered, one dropped.
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0 + 1 * kUs));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + 2 * kUs));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + 3 * kUs));
    c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::First, kT0 + 4 * kUs));
    c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::Last, kT0 + 5 * kUs));
    c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::First, kT0 + 6 * kUs));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 2u);
    EXPECT_TRUE(done[0].ambiguous);
    EXPECT_TRUE(done[1].ambiguous);
    EXPECT_EQ(done[0].path.size(), 4u);
    EXPECT_EQ(done[1].path.size(), 3u);
    EXPECT_EQ(done[0].fate, Fate::Delivered);
    EXPECT_EQ(done[1].fate, Fate::Dropped);
    EXPECT_NE(format_path(done[1]).find("(ambiguous"), std::string::npos);
    // A packet with its own key is not marked.
    Correlator c2;
    c2.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0));
    EXPECT_FALSE(c2.take_done(0, true)[0].ambiguous);
}

TEST(Trace, WindowSeparatesRetransmissions) {
    // The same bytes a second later (a retransmission with the same IP id) are another packet.
    Correlator c({.window_ns = 100'000'000});
    const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 5);
    c.add(obs(p, CapturePoint::LocalOut, PrioritySlot::First, kT0));
    c.add(obs(p, CapturePoint::LocalOut, PrioritySlot::Last, kT0 + kUs));
    c.add(obs(p, CapturePoint::LocalOut, PrioritySlot::First, kT0 + 1'000'000'000));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 2u);
    EXPECT_FALSE(done[0].ambiguous);
    EXPECT_FALSE(done[1].ambiguous);
}

TEST(Trace, WeakDropReportJoinsByTuple) {
    Correlator c;
    const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, 5);
    c.add(tap(p, CapturePoint::TapIn, kT0, "veth0"));
    PacketEvent ev;  // a drop report with the 5-tuple only, no bytes
    ev.ts_ns = kT0 + 30 * kUs;
    ev.verdict = Verdict::Drop;
    ev.parsed = parse_ip(p);
    ev.len = 999;
    Observation d;
    ASSERT_TRUE(observe(ev, d));
    EXPECT_FALSE(d.key.strong);
    d.reason = "NO_SOCKET";
    c.add(d);
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].fate, Fate::Dropped);
    EXPECT_EQ(done[0].reason, "NO_SOCKET");
    EXPECT_EQ(done[0].dropped_at, "after tap-in");
}

TEST(Trace, SummaryAndReport) {
    Correlator c;
    PathSummary s;
    for (uint16_t i = 0; i < 3; ++i) {
        const auto p = udp4("198.18.0.1", "198.18.0.2", 1000, 80, static_cast<uint16_t>(100 + i));
        c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0 + i * kUs));
        c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + i * kUs + 1));
        c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::First, kT0 + i * kUs + 2));
        if (i) c.add(obs(p, CapturePoint::LocalIn, PrioritySlot::Last, kT0 + i * kUs + 3));
    }
    for (const auto& t : c.take_done(0, true)) s.add(t);
    ASSERT_EQ(s.rows().size(), 2u);
    EXPECT_EQ(s.rows()[0].packets, 2u);
    EXPECT_EQ(s.rows()[0].signature, "PRE_ROUTING → LOCAL_IN ✓ delivered");
    EXPECT_EQ(s.rows()[1].signature, "PRE_ROUTING → LOCAL_IN(first) ✗ dropped at LOCAL_IN");
    EXPECT_EQ(s.edges().at({"PRE_ROUTING", "LOCAL_IN"}), 3u);
    EXPECT_EQ(s.edges().at({"LOCAL_IN", "delivered"}), 2u);
    EXPECT_EQ(s.drops().at("LOCAL_IN"), 1u);
    const std::string html =
        html_report(s, {"udp port 80", {"PRE_ROUTING", "LOCAL_IN"}, {"xdp: not built"}});
    EXPECT_NE(html.find("<svg id=\"hook-graph\""), std::string::npos);
    EXPECT_NE(html.find("PRE_ROUTING → LOCAL_IN: 3 packets"), std::string::npos);
    EXPECT_NE(html.find("dropped LOCAL_IN: 1 packets"), std::string::npos);
    EXPECT_EQ(html.find("http"), std::string::npos);  // self-contained: nothing fetched
}

}  // namespace
}  // namespace hookdump::trace

namespace hookdump::trace {
namespace {

TEST(Trace, VanishedAfterAHookIsADrop) {
    // Forwarding disabled: the packet leaves PRE_ROUTING and reaches no other hook.
    Correlator c({.window_ns = 200'000'000, .both_slots = true, .tap_egress = true});
    const auto p = udp4("198.18.1.2", "198.18.2.2", 1000, 80, 11);
    c.add(tap(p, CapturePoint::TapIn, kT0, "r0"));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::First, kT0 + kUs));
    c.add(obs(p, CapturePoint::PreRouting, PrioritySlot::Last, kT0 + 2 * kUs));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].fate, Fate::Dropped);
    EXPECT_EQ(done[0].dropped_at, "after PRE_ROUTING");
    EXPECT_EQ(format_path(done[0]), "tap-in r0 → PRE_ROUTING ✗ dropped after PRE_ROUTING");
    // Without the module's hooks nothing can be said.
    Correlator tap_only({.window_ns = 200'000'000, .both_slots = false});
    tap_only.add(tap(p, CapturePoint::TapIn, kT0, "r0"));
    EXPECT_EQ(tap_only.take_done(0, true)[0].fate, Fate::Unknown);
}

}  // namespace
}  // namespace hookdump::trace

namespace hookdump::trace {
namespace {

TEST(Trace, SameIdAndPayloadInAnotherFlowIsAnotherPacket) {
    // A sender that numbers its IP ids from 1 in both directions: equal keys, unrelated packets.
    Correlator c;
    const auto in = udp4("198.18.0.2", "198.18.0.1", 40000, 7001, 1);
    const auto out = udp4("198.18.0.1", "198.18.0.2", 40001, 7002, 1);
    c.add(tap(in, CapturePoint::TapIn, kT0, "vA"));
    c.add(tap(out, CapturePoint::TapOut, kT0 + 30 * kUs, "vA"));
    auto done = c.take_done(0, true);
    ASSERT_EQ(done.size(), 2u);
    EXPECT_FALSE(done[0].ambiguous);
    EXPECT_EQ(done[1].fate, Fate::Sent);
}

}  // namespace
}  // namespace hookdump::trace
