// What a flow record carries besides its 5-tuple: where it was seen (interface, capture point,
// direction), ICMP type and code in the key, IP octets, the end of a TCP flow; and how IPFIX
// sees the record (ipfix/ipfix_flow.h).
#include <gtest/gtest.h>

#include <vector>

#include "flow/flow_table.h"
#include "ipfix/ipfix_flow.h"
#include "packet/builder.h"

namespace hookdump {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kT0 = 1700000000 * kSec;

struct Events {
    std::vector<std::vector<uint8_t>> frames;
    PacketEvent at(std::vector<uint8_t> bytes, uint64_t ts, int32_t ifindex = 3,
                   CapturePoint point = CapturePoint::TapIn, Direction dir = Direction::In) {
        frames.push_back(std::move(bytes));
        PacketEvent ev;
        ev.ts_ns = ts;
        ev.ifindex = ifindex;
        ev.point = point;
        ev.dir = dir;
        ev.bytes = frames.back();
        ev.len = static_cast<uint32_t>(frames.back().size());
        ev.parsed = parse_packet(LinkType::Ethernet, ev.bytes);
        return ev;
    }
};

struct Out {
    std::vector<FlowRecord> records;
    FlowTable::Exporter exporter() {
        return [this](const FlowRecord& r) { records.push_back(r); };
    }
};

std::vector<uint8_t> udp(size_t payload = 10) {
    return PacketBuilder()
        .ethernet()
        .ipv4("198.18.0.1", "198.18.0.2")
        .udp(1000, 2000)
        .payload(payload)
        .build();
}

TEST(FlowKey, InterfaceAndPointSeparateFlows) {
    Out out;
    FlowTable t({}, out.exporter());
    Events e;
    t.add(e.at(udp(), kT0, 3, CapturePoint::TapIn));
    t.add(e.at(udp(), kT0 + 1, 3, CapturePoint::TapIn));
    t.add(e.at(udp(), kT0 + 2, 4, CapturePoint::TapIn));    // another interface
    t.add(e.at(udp(), kT0 + 3, 3, CapturePoint::LocalIn));  // another point
    t.flush_all();
    ASSERT_EQ(out.records.size(), 3u);
    uint64_t packets = 0;
    for (const auto& r : out.records) packets += r.packets;
    EXPECT_EQ(packets, 4u);
    EXPECT_EQ(t.stats().flows_created, 3u);
}

TEST(FlowKey, IpOctetsLeaveTheLinkHeaderOut) {
    Out out;
    FlowTable t({}, out.exporter());
    Events e;
    t.add(e.at(udp(10), kT0));
    t.add(e.at(udp(100), kT0 + 1));
    t.flush_all();
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(out.records[0].ip_bytes, (20u + 8 + 10) + (20u + 8 + 100));
    EXPECT_EQ(out.records[0].bytes, out.records[0].ip_bytes + 2 * 14);
}

TEST(FlowKey, EthernetPaddingIsNotCountedAsOctets) {
    Out out;
    FlowTable t({}, out.exporter());
    Events e;
    std::vector<uint8_t> f = udp(2);  // 14 + 30 bytes, padded to 60 on the wire
    f.resize(60, 0);
    t.add(e.at(f, kT0));
    t.flush_all();
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(out.records[0].ip_bytes, 30u);
    EXPECT_EQ(out.records[0].bytes, 60u);
}

TEST(FlowKey, IcmpTypeAndCodeAreInTheKey) {
    Out out;
    FlowTable t({}, out.exporter());
    Events e;
    const auto ping = [](uint8_t type, uint8_t code) {
        return PacketBuilder()
            .ethernet()
            .ipv4("198.18.0.1", "198.18.0.2")
            .icmp(type, code)
            .payload(8)
            .build();
    };
    t.add(e.at(ping(8, 0), kT0));
    t.add(e.at(ping(8, 0), kT0 + 1));
    t.add(e.at(ping(3, 3), kT0 + 2));
    t.flush_all();
    ASSERT_EQ(out.records.size(), 2u);
    for (const auto& r : out.records) {
        EXPECT_TRUE(r.has_icmp);
        EXPECT_FALSE(r.has_ports);
        EXPECT_EQ(r.key.sport, 0u);
        EXPECT_EQ(r.key.dport, 0u);
    }
    // Oldest first.
    EXPECT_EQ(out.records[0].key.icmp, 0x0800u);
    EXPECT_EQ(out.records[0].packets, 2u);
    EXPECT_EQ(out.records[1].key.icmp, 0x0303u);
}

std::vector<uint8_t> tcp(uint16_t sport, uint8_t flags) {
    return PacketBuilder()
        .ethernet()
        .ipv4("198.18.0.1", "198.18.0.2")
        .tcp(sport, 80, flags)
        .build();
}

TEST(FlowKey, FinOrRstEndsTheFlowOnceQuiet) {
    FlowConfig c;
    c.tcp_end_ns = 1 * kSec;
    Out out;
    FlowTable t(c, out.exporter());
    Events e;
    t.add(e.at(tcp(1, 0x02), kT0));              // SYN
    t.add(e.at(tcp(1, 0x11), kT0 + kSec));       // FIN ACK
    t.add(e.at(tcp(1, 0x10), kT0 + kSec + 5));   // the last ACK: the same record
    t.add(e.at(tcp(2, 0x04), kT0 + kSec + 10));  // RST
    t.add(e.at(tcp(3, 0x10), kT0 + kSec + 10));  // an open connection
    t.expire(kT0 + 2 * kSec + 4);
    EXPECT_TRUE(out.records.empty());
    t.expire(kT0 + 2 * kSec + 5);
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(out.records[0].key.sport, 1u);
    EXPECT_EQ(out.records[0].packets, 3u);
    t.expire(kT0 + 2 * kSec + 10);
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(out.records[1].key.sport, 2u);
    for (const auto& r : out.records) EXPECT_EQ(r.end, FlowEnd::Tcp);
    EXPECT_EQ(t.stats().exported_tcp, 2u);
    EXPECT_EQ(t.size(), 1u);
    t.flush_all();
    ASSERT_EQ(out.records.size(), 3u);
    EXPECT_EQ(out.records[2].key.sport, 3u);
    EXPECT_EQ(out.records[2].end, FlowEnd::Final);
    EXPECT_EQ(to_string(FlowEnd::Tcp), "fin");
}

TEST(FlowKey, AnEndingFlowGoesIdleFirstWhenTheIdleTimeoutIsShorter) {
    FlowConfig c;
    c.idle_timeout_ns = kSec / 2;
    c.tcp_end_ns = 1 * kSec;
    Out out;
    FlowTable t(c, out.exporter());
    Events e;
    t.add(e.at(tcp(1, 0x11), kT0));
    t.expire(kT0 + kSec / 2);
    ASSERT_EQ(out.records.size(), 1u);
    EXPECT_EQ(out.records[0].end, FlowEnd::Idle);
    EXPECT_EQ(t.size(), 0u);
}

TEST(FlowKey, EvictingAnEndingFlowLeavesNoStaleLink) {
    FlowConfig c;
    c.max_flows = 2;
    Out out;
    FlowTable t(c, out.exporter());
    Events e;
    for (uint16_t p = 1; p <= 50; ++p) t.add(e.at(tcp(p, p % 2 ? 0x01 : 0x10), kT0 + p));
    t.expire(kT0 + 60 * kSec);
    t.flush_all();
    EXPECT_EQ(out.records.size(), 50u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(IpfixFlow, RecordCarriesWhatTheFlowKnows) {
    FlowRecord f;
    f.key.family = 4;
    f.key.proto = 17;
    f.key.src[0] = 198;
    f.key.ifindex = 7;
    f.key.point = CapturePoint::TcEgress;
    f.key.sport = 53;
    f.key.dport = 5353;
    f.has_ports = true;
    f.dir = Direction::Out;
    f.first_ns = kT0 + 1'999'999;
    f.last_ns = kT0 + 5 * kSec;
    f.packets = 3;
    f.bytes = 300;
    f.ip_bytes = 258;
    f.end = FlowEnd::Active;
    const ipfix::Record r = ipfix::to_record(f);
    EXPECT_EQ(r.has, ipfix::Record::kPorts | ipfix::Record::kEgress | ipfix::Record::kDirection |
                         ipfix::Record::kObservationPoint);
    EXPECT_EQ(r.egress_if, 7u);
    EXPECT_EQ(r.direction, 1u);
    EXPECT_EQ(r.observation_point, ipfix::observation_point_id(CapturePoint::TcEgress));
    EXPECT_EQ(r.octets, 258u);
    EXPECT_EQ(r.packets, 3u);
    EXPECT_EQ(r.start_ms, kT0 / 1'000'000 + 1);
    EXPECT_EQ(r.end_ms, kT0 / 1'000'000 + 5000);
    EXPECT_EQ(r.end_reason, ipfix::EndReason::ActiveTimeout);
}

TEST(IpfixFlow, UnknownFieldsAreLeftOut) {
    FlowRecord f;  // a file read: no interface, no point, no direction
    f.key.family = 6;
    f.key.proto = 58;
    f.has_icmp = true;
    f.key.icmp = 0x8000;
    const ipfix::Record r = ipfix::to_record(f);
    EXPECT_EQ(r.has, ipfix::Record::kIcmp);
    EXPECT_EQ(r.icmp_type_code, 0x8000u);
    EXPECT_EQ(r.end_reason, ipfix::EndReason::ForcedEnd);
}

TEST(IpfixFlow, EndReasons) {
    const auto reason = [](FlowEnd e) {
        FlowRecord f;
        f.key.family = 4;
        f.end = e;
        return ipfix::to_record(f).end_reason;
    };
    EXPECT_EQ(reason(FlowEnd::Idle), ipfix::EndReason::IdleTimeout);
    EXPECT_EQ(reason(FlowEnd::Active), ipfix::EndReason::ActiveTimeout);
    EXPECT_EQ(reason(FlowEnd::Tcp), ipfix::EndReason::EndOfFlow);
    EXPECT_EQ(reason(FlowEnd::Final), ipfix::EndReason::ForcedEnd);
    EXPECT_EQ(reason(FlowEnd::Evicted), ipfix::EndReason::LackOfResources);
}

TEST(IpfixFlow, ObservationPointIdsAreStable) {
    // Documented in docs/FORMATS.md: collectors' configurations depend on them.
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::Unknown), 0u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::TapIn), 1u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::TapOut), 2u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::PreRouting), 3u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::LocalIn), 4u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::Forward), 5u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::LocalOut), 6u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::PostRouting), 7u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::Xdp), 8u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::TcIngress), 9u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::TcEgress), 10u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::Nflog), 11u);
    EXPECT_EQ(ipfix::observation_point_id(CapturePoint::Drop), 12u);
}

}  // namespace
}  // namespace hookdump
