// The kmod engine's read path without the module: datagrams laid out as hookdump.ko sends them
// (KmodDatagramBuilder) through KmodEventReader and a Pipeline into the csv, jsonl and pcap
// sinks, compared byte for byte; and its ledger.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/pipeline.h"
#include "engine/kmod_datagram.h"
#include "engine/kmod_engine.h"
#include "packet/builder.h"
#include "rules/rule.h"
#include "sink/sinks.h"
#include "test_util.h"

namespace hookdump {
namespace {

using test::TempDir;

constexpr uint16_t kFamily = 0x1d;

hookdump_event event(uint64_t ts, uint8_t hook, uint8_t family, const char* src, const char* dst,
                     uint8_t proto) {
    hookdump_event e{};
    e.ts_ns = ts;
    e.netns_cookie = 4096;
    e.hook = hook;
    e.family = family == 6 ? AF_INET6 : AF_INET;
    e.proto = proto;
    inet_pton(e.family, src, e.src);
    inet_pton(e.family, dst, e.dst);
    return e;
}

// Every kind of event the module reports: ports, ICMP, fragments, a truncated transport header,
// each hook and slot, known, unknown and absent interfaces, and packet bytes (TCP flags).
struct Sample {
    std::vector<uint8_t> tcp6 = PacketBuilder()
                                    .ipv6("2001:db8::1", "2001:db8::2")
                                    .tcp(443, 50000, 0x12)
                                    .payload(10)
                                    .build();
    std::vector<char> datagram;

    Sample() {
        KmodDatagramBuilder b(kFamily);
        hookdump_event e = event(1700000000123456789ull, HOOKDUMP_HOOK_PRE_ROUTING, 4, "198.18.0.1",
                                 "198.18.0.2", 17);
        e.iif = 1;  // lo in every network namespace
        e.len = 46;
        e.flags = HOOKDUMP_EV_PORTS;
        e.sport = 40000;
        e.dport = 9;
        e.thoff = 20;
        b.add(e);
        e = event(1700000001000000001ull, HOOKDUMP_HOOK_LOCAL_OUT, 6, "2001:db8::1", "2001:db8::2",
                  6);
        e.slot = HOOKDUMP_SLOT_LAST;
        e.oif = 1;
        e.len = static_cast<uint32_t>(tcp6.size());
        e.flags = HOOKDUMP_EV_PORTS;
        e.sport = 443;
        e.dport = 50000;
        e.thoff = 40;
        b.add(e, tcp6);
        e = event(1700000002000000000ull, HOOKDUMP_HOOK_FORWARD, 4, "198.18.1.1", "198.19.0.1", 1);
        e.slot = HOOKDUMP_SLOT_CUSTOM;
        e.iif = 1;
        e.oif = 999999;  // no such interface: no name
        e.len = 84;
        e.flags = HOOKDUMP_EV_ICMP;
        e.icmp_type = 8;
        e.thoff = 20;
        b.add(e);
        e = event(1700000003000000000ull, HOOKDUMP_HOOK_LOCAL_IN, 4, "198.18.0.3", "198.18.0.2",
                  17);
        e.len = 1500;
        e.flags = HOOKDUMP_EV_FRAG | HOOKDUMP_EV_LATER_FRAG;
        e.thoff = 20;
        b.add(e);
        e = event(1700000004000000000ull, HOOKDUMP_HOOK_POST_ROUTING, 6, "::ffff:198.18.0.1",
                  "2001:db8::2", 6);
        e.oif = 1;
        e.len = 50;
        e.flags = HOOKDUMP_EV_TRUNCATED;
        b.add(e);
        datagram = b.datagram();
    }
};

std::string run_sink(std::unique_ptr<Sink> (*make)(const SinkOptions&), const std::string& path,
                     const std::vector<char>& datagram, InterfaceCounters& c, uint64_t count = 0) {
    SinkOptions o;
    o.path = path;
    Pipeline p(count);
    p.add_sink(make(o));
    KmodEventReader r(kFamily);
    r.handle_datagram(datagram.data(), datagram.size(), p, c);
    p.finish(Ledger{});
    return test::read_file(path);
}

TEST(KmodReader, CsvRows) {
    TempDir d;
    Sample s;
    InterfaceCounters c;
    EXPECT_EQ(run_sink(make_csv_sink, d.file("x.csv"), s.datagram, c),
              csv_header() +
                  "1700000000.123456789,prerouting,lo,1,4096,in,17,198.18.0.1,198.18.0.2,40000,9,,,"
                  "46,0,0,,\n"
                  "1700000001.000000001,output:last,lo,1,4096,out,6,2001:db8::1,2001:db8::2,443,"
                  "50000,,,70,70,0,S.,\n"
                  "1700000002.000000000,forward:custom,,999999,4096,,1,198.18.1.1,198.19.0.1,,,8,0,"
                  "84,0,0,,\n"
                  "1700000003.000000000,input,,,4096,in,17,198.18.0.3,198.18.0.2,,,,,1500,0,1,,\n"
                  "1700000004.000000000,postrouting,lo,1,4096,out,6,::ffff:198.18.0.1,2001:db8::2,,"
                  ",,,50,0,0,,\n");
    EXPECT_EQ(c.received, 5u);
}

TEST(KmodReader, JsonlRecords) {
    TempDir d;
    Sample s;
    InterfaceCounters c;
    EXPECT_EQ(
        run_sink(make_jsonl_sink, d.file("x.jsonl"), s.datagram, c),
        R"({"ts":1700000000.123456789,"point":"prerouting","ifname":"lo","ifindex":1,"netns":4096,"dir":"in","proto":17,"src":"198.18.0.1","dst":"198.18.0.2","sport":40000,"dport":9,"icmp_type":null,"icmp_code":null,"len":46,"caplen":0,"frag":0,"tcp_flags":null,"verdict":null})"
        "\n"
        R"({"ts":1700000001.000000001,"point":"output:last","ifname":"lo","ifindex":1,"netns":4096,"dir":"out","proto":6,"src":"2001:db8::1","dst":"2001:db8::2","sport":443,"dport":50000,"icmp_type":null,"icmp_code":null,"len":70,"caplen":70,"frag":0,"tcp_flags":"S.","verdict":null})"
        "\n"
        R"({"ts":1700000002.000000000,"point":"forward:custom","ifname":null,"ifindex":999999,"netns":4096,"dir":null,"proto":1,"src":"198.18.1.1","dst":"198.19.0.1","sport":null,"dport":null,"icmp_type":8,"icmp_code":0,"len":84,"caplen":0,"frag":0,"tcp_flags":null,"verdict":null})"
        "\n"
        R"({"ts":1700000003.000000000,"point":"input","ifname":null,"ifindex":null,"netns":4096,"dir":"in","proto":17,"src":"198.18.0.3","dst":"198.18.0.2","sport":null,"dport":null,"icmp_type":null,"icmp_code":null,"len":1500,"caplen":0,"frag":1,"tcp_flags":null,"verdict":null})"
        "\n"
        R"({"ts":1700000004.000000000,"point":"postrouting","ifname":"lo","ifindex":1,"netns":4096,"dir":"out","proto":6,"src":"::ffff:198.18.0.1","dst":"2001:db8::2","sport":null,"dport":null,"icmp_type":null,"icmp_code":null,"len":50,"caplen":0,"frag":0,"tcp_flags":null,"verdict":null})"
        "\n");
}

// Records are the same whether the sink formatted the previous one from the same hook,
// interface and addresses (it reuses that text) or not: a run of events that differ one
// field at a time, against each event written by a sink of its own.
TEST(KmodReader, RecordsIndependentOfThePreviousOne) {
    std::vector<hookdump_event> evs;
    hookdump_event e =
        event(1700000000999999999ull, HOOKDUMP_HOOK_PRE_ROUTING, 4, "198.18.0.1", "198.18.0.2", 17);
    e.iif = 1;
    e.netns_cookie = 4096;
    e.len = 46;
    e.flags = HOOKDUMP_EV_PORTS;
    e.sport = 1;
    e.dport = 9;
    auto push = [&] {
        evs.push_back(e);
        e.ts_ns += 1;  // crosses a second boundary on the first step
        ++e.sport;
    };
    push();
    push();
    e.slot = HOOKDUMP_SLOT_LAST, push();
    e.hook = HOOKDUMP_HOOK_LOCAL_IN, push();
    e.iif = 0, push();
    e.iif = 1, e.netns_cookie = 0, push();
    e.netns_cookie = 4096, e.proto = 6, push();
    inet_pton(AF_INET, "198.18.0.3", e.src), push();
    inet_pton(AF_INET, "198.18.0.4", e.dst), push();
    e.flags = 0, push();
    e.family = AF_INET6, push();
    e.family = AF_INET, e.hook = HOOKDUMP_HOOK_FORWARD, e.oif = 1, push();
    e.oif = 0, push();
    e.ts_ns += 5000000000ull, push();
    for (auto make : {make_csv_sink, make_jsonl_sink}) {
        TempDir d;
        KmodDatagramBuilder all(kFamily);
        std::string expected;
        for (size_t i = 0; i < evs.size(); ++i) {
            KmodDatagramBuilder one(kFamily);
            one.add(evs[i]);
            all.add(evs[i]);
            InterfaceCounters c;
            std::string rec = run_sink(make, d.file("one" + std::to_string(i)), one.datagram(), c);
            if (make == make_csv_sink) rec = rec.substr(csv_header().size());
            expected += rec;
        }
        InterfaceCounters c;
        std::string got = run_sink(make, d.file("all"), all.datagram(), c);
        if (make == make_csv_sink) got = got.substr(csv_header().size());
        EXPECT_EQ(got, expected);
        EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), static_cast<long>(evs.size()));
    }
}

// pcap takes the events that carry bytes (raw IP), the others are counted as skipped.
TEST(KmodReader, PcapRecords) {
    TempDir d;
    const auto udp4 =
        PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(40000, 9).payload(18).build();
    KmodDatagramBuilder b(kFamily);
    hookdump_event e =
        event(1700000000123456789ull, HOOKDUMP_HOOK_PRE_ROUTING, 4, "198.18.0.1", "198.18.0.2", 17);
    e.len = 46;
    e.flags = HOOKDUMP_EV_PORTS;
    b.add(e, udp4);
    e.ts_ns += 1000;
    e.len = 1000;  // captured short of the packet's length
    b.add(e, std::span(udp4).first(28));
    InterfaceCounters c;
    const std::string pcap = run_sink(make_pcap_sink, d.file("x.pcap"), b.datagram(), c);
    ASSERT_EQ(pcap.size(), 24u + 16 + 46 + 16 + 28);
    uint32_t linktype, rec[4];
    std::memcpy(&linktype, pcap.data() + 20, 4);
    EXPECT_EQ(linktype, 101u);  // LINKTYPE_RAW
    std::memcpy(rec, pcap.data() + 24, 16);
    EXPECT_EQ(rec[0], 1700000000u);
    EXPECT_EQ(rec[1], 123456789u);
    EXPECT_EQ(rec[2], 46u);
    EXPECT_EQ(rec[3], 46u);
    EXPECT_EQ(pcap.substr(40, 46), std::string(udp4.begin(), udp4.end()));
    std::memcpy(rec, pcap.data() + 86, 16);
    EXPECT_EQ(rec[1], 123457789u);
    EXPECT_EQ(rec[2], 28u);
    EXPECT_EQ(rec[3], 1000u);
    EXPECT_EQ(pcap.substr(102), std::string(udp4.begin(), udp4.begin() + 28));
    EXPECT_EQ(c.received, 2u);
}

// A count limit (-c) stops at that event: the ledger counts what was handed to the sinks.
TEST(KmodReader, CountLimitAndLedger) {
    TempDir d;
    Sample s;
    InterfaceCounters c;
    const std::string csv = run_sink(make_csv_sink, d.file("x.csv"), s.datagram, c, 3);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // the header and 3 rows
    EXPECT_EQ(c.received, 3u);
}

// Several messages in one datagram, a malformed attribute (shorter than an event), an event
// whose caplen runs past its attribute, other attributes: only whole events count.
TEST(KmodReader, SkipsWhatIsNotAnEvent) {
    Sample s;
    KmodDatagramBuilder b(kFamily);
    hookdump_event e = event(1, HOOKDUMP_HOOK_PRE_ROUTING, 4, "198.18.0.1", "198.18.0.2", 17);
    b.add(e);
    std::vector<char> bad = b.datagram();
    // Claim 8 packet bytes the attribute does not have.
    auto* ev =
        reinterpret_cast<hookdump_event*>(bad.data() + NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN);
    ev->caplen = 8;
    // A short attribute and one of another type, appended to the same message.
    const char extra[] = {8, 0, HOOKDUMP_A_EVENT,   0, 1, 2, 3, 4,
                          8, 0, HOOKDUMP_A_RULE_ID, 0, 1, 0, 0, 0};
    bad.insert(bad.end(), extra, extra + sizeof extra);
    reinterpret_cast<nlmsghdr*>(bad.data())->nlmsg_len = static_cast<uint32_t>(bad.size());
    std::vector<char> dgram = s.datagram;
    dgram.insert(dgram.end(), bad.begin(), bad.end());
    dgram.insert(dgram.end(), s.datagram.begin(), s.datagram.end());
    Pipeline p;
    InterfaceCounters c;
    KmodEventReader r(kFamily);
    EXPECT_TRUE(r.handle_datagram(dgram.data(), dgram.size(), p, c));
    EXPECT_EQ(c.received, 10u);
    EXPECT_EQ(p.packets(), 10u);
}

// Events of iptables' -j HOOKDUMP (slot TARGET, a group, a label after the event): kept by
// group, or all (kmod listen), or none (a capture's own rules); the label on the event.
TEST(KmodReader, TargetEventsByGroupWithTheirLabel) {
    KmodDatagramBuilder b(kFamily);
    hookdump_event own = event(1, HOOKDUMP_HOOK_LOCAL_OUT, 4, "198.18.0.1", "198.18.0.2", 17);
    own.rule_id = 7;
    hookdump_event g3 = own;
    g3.rule_id = 0;
    g3.slot = HOOKDUMP_SLOT_TARGET;
    g3.group = 3;
    hookdump_event g5 = g3;
    g5.group = 5;
    b.add(own).add(g3).label("sent-v4").add(g5).label("other").add(g3).add(own);
    const std::vector<char> d = b.datagram();
    struct Labels : EventHandler {
        std::vector<std::string> seen;
        bool on_event(const PacketEvent& e) override {
            seen.emplace_back(e.label);
            return true;
        }
    };
    auto run = [&](KmodTargets t) {
        Labels h;
        InterfaceCounters c;
        KmodEventReader r(kFamily, t);
        EXPECT_TRUE(r.handle_datagram(d.data(), d.size(), h, c));
        return h.seen;
    };
    using K = KmodTargets::Keep;
    EXPECT_EQ(run({K::Group, 3}), (std::vector<std::string>{"sent-v4", ""}));
    EXPECT_EQ(run({K::Group, 5}), (std::vector<std::string>{"other"}));
    EXPECT_EQ(run({K::Group, 4}), (std::vector<std::string>{}));
    EXPECT_EQ(run({K::None, 0}), (std::vector<std::string>{"", ""}));
    EXPECT_EQ(run({K::All, 0}), (std::vector<std::string>{"", "sent-v4", "other", "", ""}));
}

// capture --engine kmod --proc: the module's sender attribute after the event (after its label,
// if any) is the event's process when the module named the task (HOOKDUMP_EV_PID); a socket's
// uid and cgroup without a task (a softirq's retransmission) is no process. --pid/--comm/--cgroup
// keep only their events; without --proc nothing is decoded.
TEST(KmodReader, TheModulesSenderIsTheEventsProcess) {
    KmodDatagramBuilder b(kFamily);
    hookdump_event sent = event(1, HOOKDUMP_HOOK_LOCAL_OUT, 4, "198.18.0.1", "198.18.0.2", 17);
    sent.flags |= HOOKDUMP_EV_UID | HOOKDUMP_EV_PID;
    sent.uid = 1000;
    sent.pid = 4242;
    hookdump_event_proc py{};
    py.cgroup_id = 77;
    std::memcpy(py.comm, "python3", 7);
    hookdump_event target = sent;
    target.slot = HOOKDUMP_SLOT_TARGET;
    target.pid = 4343;
    hookdump_event_proc nc{};
    nc.cgroup_id = 78;
    std::memcpy(nc.comm, "0123456789abcdef", 16);  // no NUL: cut at 15
    hookdump_event softirq = sent;
    softirq.flags &= ~HOOKDUMP_EV_PID;
    softirq.pid = 0;
    hookdump_event_proc sock_only{};
    sock_only.cgroup_id = 77;
    hookdump_event in = event(1, HOOKDUMP_HOOK_LOCAL_IN, 4, "198.18.0.2", "198.18.0.1", 17);
    b.add(sent).proc(py).add(target).label("t").proc(nc).add(softirq).proc(sock_only).add(in);
    const std::vector<char> d = b.datagram();
    struct Procs : EventHandler {
        std::vector<std::string> seen;
        bool on_event(const PacketEvent& e) override {
            const ProcInfo& p = e.proc;
            seen.push_back(p.known ? fmt::format("{}[{}] uid {} cgroup {} label '{}'",
                                                 p.comm_view(), p.pid, p.uid, p.cgroup_id, e.label)
                                   : fmt::format("none label '{}'", e.label));
            return true;
        }
    };
    auto run = [&](std::optional<ProcFilter> f) {
        Procs h;
        InterfaceCounters c;
        KmodEventReader r(kFamily, {KmodTargets::Keep::All, 0});
        if (f) r.set_proc(*f);
        EXPECT_TRUE(r.handle_datagram(d.data(), d.size(), h, c));
        return h.seen;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(run(ProcFilter{}), (V{"python3[4242] uid 1000 cgroup 77 label ''",
                                    "0123456789abcde[4343] uid 1000 cgroup 78 label 't'",
                                    "none label ''", "none label ''"}));
    EXPECT_EQ(run(std::nullopt),
              (V{"none label ''", "none label 't'", "none label ''", "none label ''"}));
    EXPECT_EQ(run(ProcFilter{.pid = 4343}),
              (V{"0123456789abcde[4343] uid 1000 cgroup 78 label 't'"}));
    EXPECT_EQ(run(ProcFilter{.comm = "python3"}), (V{"python3[4242] uid 1000 cgroup 77 label ''"}));
    EXPECT_EQ(run(ProcFilter{.cgroup_id = 77}), (V{"python3[4242] uid 1000 cgroup 77 label ''"}));
}

// capture --engine kmod --group N EXPRESSION: of the group's events, those the expression's
// rules match (family, addresses, protocol, ports, hooks), the same as the module's own match.
TEST(KmodReader, GroupEventsNarrowedByAnExpression) {
    KmodDatagramBuilder b(kFamily);
    auto target = [](uint8_t hook, uint8_t fam, const char* src, const char* dst, uint8_t proto,
                     uint16_t sport, uint16_t dport, uint16_t group) {
        hookdump_event e = event(1, hook, fam, src, dst, proto);
        e.slot = HOOKDUMP_SLOT_TARGET;
        e.group = group;
        if (sport || dport) {
            e.flags |= HOOKDUMP_EV_PORTS;
            e.sport = sport;
            e.dport = dport;
        }
        return e;
    };
    const uint8_t out = HOOKDUMP_HOOK_LOCAL_OUT, fwd = HOOKDUMP_HOOK_FORWARD;
    b.add(target(out, 4, "198.18.1.2", "198.18.2.2", 17, 40001, 7001, 3)).label("a");
    b.add(target(out, 4, "198.18.1.2", "198.18.2.2", 17, 40001, 7002, 3)).label("b");
    b.add(target(out, 4, "198.18.1.2", "198.18.2.2", 1, 0, 0, 3)).label("c");
    b.add(target(out, 6, "2001:db8:1::2", "2001:db8:2::2", 17, 40002, 7001, 3)).label("d");
    b.add(target(fwd, 4, "198.18.1.3", "198.18.2.2", 17, 40001, 7001, 3)).label("e");
    b.add(target(out, 4, "198.18.1.2", "198.18.2.2", 17, 40001, 7001, 4)).label("f");
    const std::vector<char> d = b.datagram();
    struct Labels : EventHandler {
        std::string seen;
        bool on_event(const PacketEvent& e) override {
            seen += e.label;
            return true;
        }
    };
    auto run = [&](const std::string& expr, uint32_t hooks = 0x1f) {
        Rule base;
        base.hooks = hooks;
        Labels h;
        InterfaceCounters c;
        KmodEventReader r(kFamily,
                          {KmodTargets::Keep::Group, 3, rules_from_expression(expr, base)});
        EXPECT_TRUE(r.handle_datagram(d.data(), d.size(), h, c));
        EXPECT_EQ(c.received, h.seen.size()) << expr;  // the ledger counts what is kept
        return h.seen;
    };
    EXPECT_EQ(run("udp and dst port 7001"), "ade");
    EXPECT_EQ(run("dst port 7002 or icmp"), "bc");
    EXPECT_EQ(run("ip6"), "d");
    EXPECT_EQ(run("src host 198.18.1.2 and udp"), "ab");
    EXPECT_EQ(run("src net 198.18.1.0/30"), "abce");
    EXPECT_EQ(run("portrange 7000-7001"), "ade");
    EXPECT_EQ(run("udp", 1u << HOOKDUMP_HOOK_FORWARD), "e");
    EXPECT_EQ(run("host 2001:db8:2::2"), "d");
}

TEST(KmodReader, FamilyDeletedThrows) {
    std::vector<char> m(NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + 4);
    auto* nlh = reinterpret_cast<nlmsghdr*>(m.data());
    nlh->nlmsg_len = static_cast<uint32_t>(m.size());
    nlh->nlmsg_type = GENL_ID_CTRL;
    reinterpret_cast<genlmsghdr*>(m.data() + NLMSG_HDRLEN)->cmd = CTRL_CMD_DELFAMILY;
    nlattr a{NLA_HDRLEN + 2, CTRL_ATTR_FAMILY_ID};
    std::memcpy(m.data() + NLMSG_HDRLEN + GENL_HDRLEN, &a, sizeof a);
    const uint16_t other = kFamily + 1;
    std::memcpy(m.data() + NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN, &other, 2);
    Pipeline p;
    InterfaceCounters c;
    KmodEventReader r(kFamily);
    EXPECT_TRUE(r.handle_datagram(m.data(), m.size(), p, c));  // another family: ignored
    std::memcpy(m.data() + NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN, &kFamily, 2);
    EXPECT_THROW(r.handle_datagram(m.data(), m.size(), p, c), KmodUnloaded);
}

}  // namespace
}  // namespace hookdump
