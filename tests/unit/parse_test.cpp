// Parser tests: every link layer and network/transport path, built with hookdump's own
// PacketBuilder, and truncation at every byte length (run under ASan: each parse reads a heap
// copy of exactly n bytes, so any read past the captured length is caught).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "packet/builder.h"
#include "packet/format.h"
#include "packet/parse.h"

namespace hookdump {
namespace {

using Bytes = std::vector<uint8_t>;

// Parses the first n bytes from a buffer of exactly n bytes.
Parsed parse_n(LinkType link, const Bytes& frame, size_t n) {
    if (n == 0) return parse_packet(link, {});
    const Bytes copy(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    return parse_packet(link, copy);
}

Parsed parse(LinkType link, const Bytes& frame) {
    return parse_n(link, frame, frame.size());
}

std::string hex16(uint16_t v) {
    char b[8];
    snprintf(b, sizeof b, "%04x", v);
    return b;
}

// Every field the parser fills, in one comparable line. Values appear only with their flag.
std::string describe(const Parsed& p) {
    std::string s;
    if (p.has & Parsed::kVlan)
        s += "vlan " + std::to_string(p.vlan) + " depth " + std::to_string(p.vlan_depth) + " | ";
    if (p.ethertype) s += "et " + hex16(p.ethertype) + " l3 " + std::to_string(p.l3_offset) + " | ";
    if (p.has_ip())
        s += "ip" + std::to_string(p.family) + " " + addr_to_string(p.family, p.src) + " > " +
             addr_to_string(p.family, p.dst) + " | ";
    if (p.has_proto()) s += "proto " + std::to_string(p.proto) + " | ";
    if (p.has_ports())
        s += "ports " + std::to_string(p.sport) + " > " + std::to_string(p.dport) + " | ";
    if (p.has_icmp())
        s += "icmp " + std::to_string(p.icmp_type) + "/" + std::to_string(p.icmp_code) + " | ";
    if (p.has_tcp_flags()) {
        s += "flags ";
        append_tcp_flags(s, p.tcp_flags);
        s += " | ";
    }
    if (p.later_fragment)
        s += "later-fragment | ";
    else if (p.fragment)
        s += "first-fragment | ";
    if (p.has_proto()) s += "payload " + std::to_string(p.ip_payload) + " | ";
    if (p.issue != ParseIssue::None) s += "[" + std::string(to_string(p.issue)) + "] | ";
    if (s.size() >= 3) s.resize(s.size() - 3);
    return s;
}

// What must hold for any input, valid or not.
void check_invariants(const Parsed& p, size_t caplen) {
    if (p.has_ports() || p.has_icmp() || p.has_tcp_flags()) {
        EXPECT_TRUE(p.has_proto());
    }
    if (p.has_proto()) {
        EXPECT_TRUE(p.has_ip());
    }
    if (p.has_ip()) {
        EXPECT_TRUE(p.family == 4 || p.family == 6);
        EXPECT_LE(p.l3_offset + (p.family == 4 ? 20u : 40u), caplen);
    } else {
        EXPECT_EQ(p.family, 0);
        EXPECT_EQ(p.src, (std::array<uint8_t, 16>{}));
        EXPECT_EQ(p.dst, (std::array<uint8_t, 16>{}));
    }
    if (!p.has_proto()) {
        EXPECT_EQ(p.proto, 0);
    }
    if (p.has_ports()) {
        EXPECT_TRUE(p.proto == 6 || p.proto == 17 || p.proto == 136 || p.proto == 132 ||
                    p.proto == 33)
            << int{p.proto};
    } else {  // never a stale or made-up port
        EXPECT_EQ(p.sport, 0);
        EXPECT_EQ(p.dport, 0);
    }
    if (p.has_icmp()) {
        EXPECT_TRUE(p.proto == 1 || p.proto == 58);
    } else {
        EXPECT_EQ(p.icmp_type | p.icmp_code, 0);
    }
    if (p.has_tcp_flags()) {
        EXPECT_EQ(p.proto, 6);
    } else {
        EXPECT_EQ(p.tcp_flags, 0);
    }
    if (p.later_fragment) {
        EXPECT_TRUE(p.fragment);
        EXPECT_FALSE(p.has_ports());
        EXPECT_FALSE(p.has_icmp());
    }
    if (!(p.has & Parsed::kVlan)) {
        EXPECT_EQ(p.vlan_depth, 0);
    }
}

Parsed check(LinkType link, const Bytes& frame) {
    const Parsed p = parse(link, frame);
    check_invariants(p, frame.size());
    return p;
}

// ---------------------------------------------------------------------------------------------
// Link layers

TEST(ParseLink, EthernetIpv4Udp) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "198.18.0.2")
                        .udp(5353, 53)
                        .payload(10)
                        .build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(
        describe(p),
        "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 5353 > 53 | payload 10");
    EXPECT_EQ(p.has, Parsed::kIp | Parsed::kProto | Parsed::kPorts);
    EXPECT_EQ(p.issue, ParseIssue::None);
    EXPECT_FALSE(p.fragment);
}

TEST(ParseLink, Vlan8021Q) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .vlan(100, 0x8100, 5)
                        .ipv4("10.0.0.1", "10.0.0.2")
                        .tcp(40000, 443, 0x12)
                        .build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(describe(p),
              "vlan 100 depth 1 | et 0800 l3 18 | ip4 10.0.0.1 > 10.0.0.2 | proto 6 | "
              "ports 40000 > 443 | flags S. | payload 0");
}

TEST(ParseLink, Vlan8021ad) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .vlan(3000, 0x88a8)
                        .vlan(42)
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .udp(1000, 2000)
                        .payload(3)
                        .build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(describe(p),
              "vlan 3000 depth 2 | et 86dd l3 22 | ip6 2001:db8::1 > 2001:db8::2 | proto 17 | "
              "ports 1000 > 2000 | payload 3");
}

TEST(ParseLink, QinQDepth3) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .vlan(4001, 0x88a8, 7)
                        .vlan(2, 0x9100)
                        .vlan(3)
                        .ipv4("192.0.2.1", "192.0.2.2")
                        .icmp(8, 0)
                        .payload(56)
                        .build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(describe(p),
              "vlan 4001 depth 3 | et 0800 l3 26 | ip4 192.0.2.1 > 192.0.2.2 | proto 1 | icmp 8/0 "
              "| payload 56");
}

TEST(ParseLink, VlanTagAroundNonIp) {
    const Bytes f = PacketBuilder().ethernet().vlan(7).ethertype(0x0806).payload(28).build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(describe(p), "vlan 7 depth 1 | et 0806 l3 0 | [not-ip]");
}

TEST(ParseLink, LinuxSll) {
    const Bytes f =
        PacketBuilder().sll(4 /* outgoing */).ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    const Parsed p = check(LinkType::LinuxSll, f);
    EXPECT_EQ(describe(p),
              "et 0800 l3 16 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 1 > 2 | payload 0");
}

TEST(ParseLink, LinuxSll2) {
    const Bytes f =
        PacketBuilder().sll2(7, 0).ipv6("fe80::1", "ff02::1").icmp6(134, 0).payload(8).build();
    const Parsed p = check(LinkType::LinuxSll2, f);
    EXPECT_EQ(describe(p),
              "et 86dd l3 20 | ip6 fe80::1 > ff02::1 | proto 58 | icmp 134/0 | payload 8");
}

TEST(ParseLink, LinuxSllNetlinkIsNotIp) {
    Bytes f = PacketBuilder().sll(0, 824).ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    EXPECT_EQ(describe(check(LinkType::LinuxSll, f)), "[not-ip]");
    f = PacketBuilder().sll2(1).ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    f[8] = 824 >> 8;
    f[9] = 824 & 0xff;
    EXPECT_EQ(describe(check(LinkType::LinuxSll2, f)), "[not-ip]");
}

TEST(ParseLink, RawIpv4AndIpv6) {
    const Bytes v4 =
        PacketBuilder().ipv4("203.0.113.9", "198.51.100.7").tcp(80, 50000, 0x11).payload(5).build();
    const Bytes v6 =
        PacketBuilder().ipv6("2001:db8::a", "2001:db8::b").udp(53, 5353).payload(7).build();
    EXPECT_EQ(describe(check(LinkType::Raw, v4)),
              "et 0800 l3 0 | ip4 203.0.113.9 > 198.51.100.7 | proto 6 | ports 80 > 50000 | flags "
              "F. | payload 5");
    EXPECT_EQ(
        describe(check(LinkType::Raw, v6)),
        "et 86dd l3 0 | ip6 2001:db8::a > 2001:db8::b | proto 17 | ports 53 > 5353 | payload 7");
    EXPECT_EQ(describe(check(LinkType::Ipv4, v4)), describe(check(LinkType::Raw, v4)));
    EXPECT_EQ(describe(check(LinkType::Ipv6, v6)), describe(check(LinkType::Raw, v6)));
    EXPECT_EQ(describe(parse_ip(v4)), describe(check(LinkType::Raw, v4)));
    EXPECT_EQ(describe(parse_ip(v6)), describe(check(LinkType::Raw, v6)));
}

TEST(ParseLink, LinkTypeIpv4CarryingIpv6IsBad) {
    const Bytes v6 = PacketBuilder().ipv6("2001:db8::a", "2001:db8::b").udp(53, 5353).build();
    const Bytes v4 =
        PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(53, 5353).payload(20).build();
    EXPECT_EQ(describe(check(LinkType::Ipv4, v6)), "et 0800 l3 0 | [bad-ip-header]");
    EXPECT_EQ(describe(check(LinkType::Ipv6, v4)), "et 86dd l3 0 | [bad-ip-header]");
}

TEST(ParseLink, RawNeitherVersionIsNotIp) {
    Bytes f = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(53, 5353).build();
    f[0] = 0x55;
    EXPECT_EQ(describe(check(LinkType::Raw, f)), "[not-ip]");
    EXPECT_EQ(describe(check(LinkType::Raw, Bytes{})), "[truncated-ip]");
}

TEST(ParseLink, NullHostOrder) {
    // DLT_NULL: AF_ value in the writer's byte order.
    const Bytes f =
        PacketBuilder().null_loopback(2).ipv4("127.0.0.1", "127.0.0.2").udp(9, 10).build();
    EXPECT_EQ(describe(check(LinkType::Null, f)),
              "et 0800 l3 4 | ip4 127.0.0.1 > 127.0.0.2 | proto 17 | ports 9 > 10 | payload 0");
    for (uint32_t af :
         {10u, 24u, 28u, 30u}) {  // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
        const Bytes g =
            PacketBuilder().null_loopback(af).ipv6("::1", "::1").tcp(1, 2, 0x04).build();
        EXPECT_EQ(describe(check(LinkType::Null, g)),
                  "et 86dd l3 4 | ip6 ::1 > ::1 | proto 6 | ports 1 > 2 | flags R | payload 0")
            << "af " << af;
    }
}

TEST(ParseLink, NullOtherByteOrder) {
    // Written on a host of the other byte order.
    const Bytes f =
        PacketBuilder().null_loopback(2, true).ipv4("127.0.0.1", "127.0.0.2").udp(9, 10).build();
    EXPECT_EQ(f[3], 2);  // big-endian on the wire
    EXPECT_EQ(describe(check(LinkType::Null, f)),
              "et 0800 l3 4 | ip4 127.0.0.1 > 127.0.0.2 | proto 17 | ports 9 > 10 | payload 0");
    const Bytes g = PacketBuilder().null_loopback(30, true).ipv6("::1", "::2").udp(1, 2).build();
    EXPECT_EQ(describe(check(LinkType::Null, g)),
              "et 86dd l3 4 | ip6 ::1 > ::2 | proto 17 | ports 1 > 2 | payload 0");
}

TEST(ParseLink, NullUnknownFamilyIsNotIp) {
    const Bytes f = PacketBuilder().null_loopback(7).payload(40).build();
    EXPECT_EQ(describe(check(LinkType::Null, f)), "[not-ip]");
}

TEST(ParseLink, Loop) {
    // LINKTYPE_LOOP: always network byte order.
    const Bytes f =
        PacketBuilder().null_loopback(2, true).ipv4("127.0.0.1", "127.0.0.2").tcp(1, 2).build();
    EXPECT_EQ(
        describe(check(LinkType::Loop, f)),
        "et 0800 l3 4 | ip4 127.0.0.1 > 127.0.0.2 | proto 6 | ports 1 > 2 | flags S | payload 0");
    const Bytes g = PacketBuilder().null_loopback(24, true).ipv6("::1", "::2").udp(1, 2).build();
    EXPECT_EQ(describe(check(LinkType::Loop, g)),
              "et 86dd l3 4 | ip6 ::1 > ::2 | proto 17 | ports 1 > 2 | payload 0");
}

Bytes snap_frame(uint16_t ethertype_in_snap) {
    const uint8_t snap[8] = {0xaa,
                             0xaa,
                             0x03,
                             0,
                             0,
                             0,
                             static_cast<uint8_t>(ethertype_in_snap >> 8),
                             static_cast<uint8_t>(ethertype_in_snap)};
    const size_t len = sizeof snap + 20 + 8 + 4;
    return PacketBuilder()
        .ethernet()
        .ethertype(static_cast<uint16_t>(len))  // 802.3: a length, not a type
        .payload(snap)
        .ipv4("198.18.0.1", "198.18.0.2")
        .udp(520, 520)
        .payload(4)
        .build();
}

TEST(ParseLink, Ieee8023LlcSnap) {
    const Bytes f = snap_frame(0x0800);
    EXPECT_EQ(f[12] << 8 | f[13], 40);
    EXPECT_EQ(
        describe(check(LinkType::Ethernet, f)),
        "et 0800 l3 22 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 520 > 520 | payload 4");
}

TEST(ParseLink, Ieee8023LlcWithoutSnapIsNotIp) {
    const uint8_t stp_llc[3] = {0x42, 0x42, 0x03};
    const Bytes f =
        PacketBuilder().ethernet().ethertype(38).payload(stp_llc).payload(35, 0).build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)), "[not-ip]");
    // SNAP with a non-IP type (AppleTalk).
    EXPECT_EQ(describe(check(LinkType::Ethernet, snap_frame(0x809b))), "et 809b l3 0 | [not-ip]");
}

TEST(ParseLink, ArpIsNotIp) {
    const Bytes f = PacketBuilder().ethernet().ethertype(0x0806).payload(28).build();
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(describe(p), "et 0806 l3 0 | [not-ip]");
    EXPECT_EQ(p.has, 0);
}

TEST(ParseLink, UnsupportedLink) {
    const Bytes f = PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").build();
    EXPECT_EQ(describe(check(static_cast<LinkType>(147), f)), "[unsupported-link]");
}

TEST(ParseLink, LinkTypeFromDlt) {
    const std::pair<int, LinkType> known[] = {
        {0, LinkType::Null},        {1, LinkType::Ethernet}, {12, LinkType::Raw},
        {14, LinkType::Raw},        {101, LinkType::Raw},    {108, LinkType::Loop},
        {113, LinkType::LinuxSll},  {228, LinkType::Ipv4},   {229, LinkType::Ipv6},
        {276, LinkType::LinuxSll2},
    };
    for (const auto& [dlt, want] : known) {
        LinkType got{};
        EXPECT_TRUE(link_type_from_dlt(dlt, got)) << dlt;
        EXPECT_EQ(got, want) << dlt;
    }
    LinkType got = LinkType::Ethernet;
    EXPECT_FALSE(link_type_from_dlt(147, got));
    EXPECT_FALSE(link_type_from_dlt(-1, got));
    EXPECT_FALSE(link_type_from_dlt(105, got));  // 802.11
}

TEST(ParseLink, IssueNames) {
    EXPECT_EQ(to_string(ParseIssue::None), "");
    EXPECT_EQ(to_string(ParseIssue::UnsupportedLink), "unsupported-link");
    EXPECT_EQ(to_string(ParseIssue::TruncatedLink), "truncated-link");
    EXPECT_EQ(to_string(ParseIssue::NotIp), "not-ip");
    EXPECT_EQ(to_string(ParseIssue::TruncatedIp), "truncated-ip");
    EXPECT_EQ(to_string(ParseIssue::BadIpHeader), "bad-ip-header");
    EXPECT_EQ(to_string(ParseIssue::TruncatedExt), "truncated-ext");
    EXPECT_EQ(to_string(ParseIssue::TruncatedL4), "truncated-l4");
}

// ---------------------------------------------------------------------------------------------
// Network layer

TEST(ParseIpv4, Options) {
    Ipv4Options o;
    o.options = {0x94, 0x04, 0x00, 0x00, 0x01};  // router alert + NOP, padded to 8 bytes
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "224.0.0.22", o)
                        .tcp(1234, 80, 0x18)
                        .payload(11)
                        .build();
    EXPECT_EQ(f[14], 0x47);  // IHL 7
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 224.0.0.22 | proto 6 | ports 1234 > 80 | flags P. "
              "| payload 11");
}

TEST(ParseIpv4, MaximumOptions) {
    Ipv4Options o;
    o.options.assign(40, 0x01);  // IHL 15
    const Bytes f =
        PacketBuilder().ipv4("198.18.0.1", "198.18.0.2", o).udp(7, 7).payload(1).build();
    EXPECT_EQ(f[0], 0x4f);
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 7 > 7 | payload 1");
}

TEST(ParseIpv4, BadIhl) {
    Bytes f =
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).payload(20).build();
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        f[14] = static_cast<uint8_t>(0x40 | ihl);
        EXPECT_EQ(describe(check(LinkType::Ethernet, f)), "et 0800 l3 14 | [bad-ip-header]")
            << int{ihl};
    }
}

TEST(ParseIpv4, BadVersion) {
    Bytes f = PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    for (uint8_t v : {0, 5, 6, 15}) {
        f[14] = static_cast<uint8_t>(v << 4 | 5);
        EXPECT_EQ(describe(check(LinkType::Ethernet, f)), "et 0800 l3 14 | [bad-ip-header]")
            << int{v};
    }
    // An IPv6 ethertype announcing an IPv4 header.
    Bytes g = PacketBuilder()
                  .ethernet()
                  .ethertype(0x86dd)
                  .ipv4("198.18.0.1", "198.18.0.2")
                  .udp(1, 2)
                  .payload(20)
                  .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, g)), "et 86dd l3 14 | [bad-ip-header]");
}

TEST(ParseIpv4, TotalLengthShorterThanHeader) {
    Bytes f =
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).payload(20).build();
    f[16] = 0;
    f[17] = 19;
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(p.issue, ParseIssue::BadIpHeader);
    EXPECT_FALSE(p.has_ports());
}

TEST(ParseIpv4, ZeroTotalLengthIsBoundedByCapture) {
    // TSO/GSO super-packets seen on output carry a total length of 0.
    Bytes f = PacketBuilder()
                  .ethernet()
                  .ipv4("198.18.0.1", "198.18.0.2")
                  .tcp(1, 2, 0x10)
                  .payload(100)
                  .build();
    f[16] = f[17] = 0;
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 6 | ports 1 > 2 | flags . | "
              "payload 100");
}

TEST(ParseIpv6, ExtensionHeaderChain) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .ipv6_ext(0)       // hop-by-hop
                        .ipv6_ext(43, 24)  // routing
                        .ipv6_ext(60, 16)  // destination options
                        .ipv6_ah(24)
                        .tcp(33000, 22, 0x02)
                        .payload(9)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 86dd l3 14 | ip6 2001:db8::1 > 2001:db8::2 | proto 6 | ports 33000 > 22 | flags "
              "S | payload 9");
}

TEST(ParseIpv6, EachExtensionHeaderAlone) {
    for (uint8_t type : {0, 43, 60}) {
        const Bytes f =
            PacketBuilder().ipv6("::1", "::2").ipv6_ext(type, 8).udp(5, 6).payload(2).build();
        EXPECT_EQ(describe(check(LinkType::Raw, f)),
                  "et 86dd l3 0 | ip6 ::1 > ::2 | proto 17 | ports 5 > 6 | payload 2")
            << int{type};
    }
    const Bytes ah = PacketBuilder().ipv6("::1", "::2").ipv6_ah(12).udp(5, 6).payload(2).build();
    EXPECT_EQ(describe(check(LinkType::Raw, ah)),
              "et 86dd l3 0 | ip6 ::1 > ::2 | proto 17 | ports 5 > 6 | payload 2");
}

TEST(ParseIpv6, EspAfterDestinationOptions) {
    const Bytes f = PacketBuilder()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .ipv6_ext(60)
                        .protocol(50)
                        .payload(40, 0x77)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 86dd l3 0 | ip6 2001:db8::1 > 2001:db8::2 | proto 50 | payload 40");
}

TEST(ParseIpv6, NoNextHeader) {
    const Bytes f = PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").build();
    EXPECT_EQ(f[6], 59);
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 86dd l3 0 | ip6 2001:db8::1 > 2001:db8::2 | proto 59 | payload 0");
}

TEST(ParseIpv6, OverlongChainIsTruncatedExt) {
    PacketBuilder b;
    b.ipv6("::1", "::2");
    for (int i = 0; i < 40; ++i) b.ipv6_ext(60);
    b.udp(1, 2);
    const Parsed p = check(LinkType::Raw, b.build());
    EXPECT_EQ(describe(p), "et 86dd l3 0 | ip6 ::1 > ::2 | [truncated-ext]");
}

TEST(ParseIpv6, VersionMismatch) {
    Bytes f = PacketBuilder().ethernet().ipv6("::1", "::2").udp(1, 2).build();
    f[14] = 0x45;
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)), "et 86dd l3 14 | [bad-ip-header]");
}

TEST(ParseIpv6, ZeroPayloadLengthIsBoundedByCapture) {
    Bytes f = PacketBuilder().ipv6("::1", "::2").tcp(1, 2, 0x10).payload(60).build();
    f[4] = f[5] = 0;
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 86dd l3 0 | ip6 ::1 > ::2 | proto 6 | ports 1 > 2 | flags . | payload 60");
}

// ---------------------------------------------------------------------------------------------
// Transport layer

TEST(ParseL4, TcpPortsAndFlags) {
    const std::pair<uint8_t, const char*> cases[] = {
        {0x02, "S"},  {0x12, "S."},       {0x10, "."},    {0x19, "FP."}, {0x04, "R"},
        {0x14, "R."}, {0xff, "FSRP.UEW"}, {0x00, "none"}, {0xc2, "SEW"},
    };
    for (const auto& [flags, text] : cases) {
        const Bytes f = PacketBuilder()
                            .ethernet()
                            .ipv4("198.18.0.1", "198.18.0.2")
                            .tcp(65535, 1, flags)
                            .build();
        const Parsed p = check(LinkType::Ethernet, f);
        EXPECT_EQ(describe(p), std::string("et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 6 "
                                           "| ports 65535 > 1 | flags ") +
                                   text + " | payload 0");
        EXPECT_EQ(p.tcp_flags, flags);
    }
}

TEST(ParseL4, TcpOptionsNotCountedAsPayload) {
    const Bytes f = PacketBuilder()
                        .ipv4("198.18.0.1", "198.18.0.2")
                        .tcp(1, 2, 0x18, 1, 1, 12)
                        .payload(30)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 6 | ports 1 > 2 | flags P. | "
              "payload 30");
}

TEST(ParseL4, Udp) {
    const Bytes f =
        PacketBuilder().ipv6("2001:db8::1", "2001:db8::53").udp(40000, 53).payload(33).build();
    EXPECT_EQ(
        describe(check(LinkType::Ipv6, f)),
        "et 86dd l3 0 | ip6 2001:db8::1 > 2001:db8::53 | proto 17 | ports 40000 > 53 | payload 33");
}

TEST(ParseL4, UdpLite) {
    const Bytes f =
        PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udplite(1111, 2222).payload(4).build();
    EXPECT_EQ(
        describe(check(LinkType::Ipv4, f)),
        "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 136 | ports 1111 > 2222 | payload 4");
}

TEST(ParseL4, Sctp) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "198.18.0.2")
                        .sctp(2905, 2905)
                        .payload(16)
                        .build();
    EXPECT_EQ(
        describe(check(LinkType::Ethernet, f)),
        "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 132 | ports 2905 > 2905 | payload 16");
}

TEST(ParseL4, Dccp) {
    // The builder writes the 16-byte generic header (X=1, data offset 4 words).
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .dccp(5001, 5002)
                        .payload(10)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 86dd l3 14 | ip6 2001:db8::1 > 2001:db8::2 | proto 33 | ports 5001 > 5002 | "
              "payload 10");
    // X = 0: the 12-byte generic header with the short sequence number.
    Bytes g = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").dccp(5001, 5002).payload(10).build();
    g[20 + 4] = 3;      // data offset: 3 words
    g[20 + 8] &= 0xfe;  // X = 0
    EXPECT_EQ(
        describe(check(LinkType::Raw, g)),
        "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 33 | ports 5001 > 5002 | payload 14");
    // X = 1 needs all 16 bytes before the ports count.
    const Bytes cut(f.begin(), f.begin() + 14 + 40 + 12);
    EXPECT_EQ(
        describe(check(LinkType::Ethernet, cut)),
        "et 86dd l3 14 | ip6 2001:db8::1 > 2001:db8::2 | proto 33 | payload 0 | [truncated-l4]");
}

TEST(ParseL4, Icmp) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "198.18.0.2")
                        .icmp(0, 0, 7, 9)
                        .payload(56)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 1 | icmp 0/0 | payload 56");
    const Bytes g = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").icmp(11, 1).build();
    EXPECT_EQ(describe(check(LinkType::Raw, g)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 1 | icmp 11/1 | payload 0");
}

TEST(ParseL4, Icmpv6TypeAndCode) {
    const std::pair<uint8_t, uint8_t> cases[] = {{1, 4},   {2, 0},   {3, 1},  {128, 0},
                                                 {129, 0}, {135, 0}, {143, 0}};
    for (const auto& [type, code] : cases) {
        const Bytes f =
            PacketBuilder().ipv6("fe80::1", "fe80::2").icmp6(type, code).payload(4).build();
        EXPECT_EQ(describe(check(LinkType::Raw, f)),
                  "et 86dd l3 0 | ip6 fe80::1 > fe80::2 | proto 58 | icmp " + std::to_string(type) +
                      "/" + std::to_string(code) + " | payload 4");
    }
}

TEST(ParseL4, OtherProtocolsByNumberWithoutPorts) {
    // GRE carrying Ethernet-like bytes that would read as ports 0x1234 > 0x5678.
    const uint8_t looks_like_ports[] = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0};
    const Bytes gre = PacketBuilder()
                          .ethernet()
                          .ipv4("198.18.0.1", "198.18.0.2")
                          .protocol(47)
                          .payload(looks_like_ports)
                          .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, gre)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 47 | payload 8");
    const Bytes esp = PacketBuilder()
                          .ipv4("198.18.0.1", "198.18.0.2")
                          .protocol(50)
                          .payload(looks_like_ports)
                          .build();
    EXPECT_EQ(describe(check(LinkType::Raw, esp)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 50 | payload 8");
    // IPIP: the outer header only, no decapsulation.
    const Bytes ipip = PacketBuilder()
                           .ipv4("198.18.0.1", "198.18.0.2")
                           .ipv4("10.0.0.1", "10.0.0.2")
                           .udp(1, 2)
                           .payload(3)
                           .build();
    EXPECT_EQ(describe(check(LinkType::Raw, ipip)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 4 | payload 31");
    // IPv6 in IPv4 (6in4).
    const Bytes sit =
        PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").ipv6("::1", "::2").udp(1, 2).build();
    EXPECT_EQ(describe(check(LinkType::Raw, sit)),
              "et 0800 l3 0 | ip4 198.18.0.1 > 198.18.0.2 | proto 41 | payload 48");
}

TEST(ParseL4, VxlanShowsOuterUdpPorts) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("192.0.2.10", "192.0.2.20")
                        .udp(49152, 4789)
                        .payload(Bytes{0x08, 0, 0, 0, 0, 0, 0x64, 0})  // VXLAN header, VNI 100
                        .ethernet()
                        .ipv4("10.1.1.1", "10.1.1.2")
                        .tcp(5555, 80, 0x02)
                        .build();
    EXPECT_EQ(
        describe(check(LinkType::Ethernet, f)),
        "et 0800 l3 14 | ip4 192.0.2.10 > 192.0.2.20 | proto 17 | ports 49152 > 4789 | payload 62");
}

TEST(ParseL4, IcmpErrorShowsOuterAddressesWithoutPorts) {
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("192.0.2.1", "198.18.0.1")
                        .icmp(3, 3, 0, 0)
                        .ipv4("198.18.0.1", "192.0.2.99")
                        .udp(40000, 33434)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 192.0.2.1 > 198.18.0.1 | proto 1 | icmp 3/3 | payload 28");
    const Bytes g = PacketBuilder()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .icmp6(1, 4, 0, 0)
                        .ipv6("2001:db8::2", "2001:db8::99")
                        .tcp(1, 2)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Raw, g)),
              "et 86dd l3 0 | ip6 2001:db8::1 > 2001:db8::2 | proto 58 | icmp 1/4 | payload 60");
}

// ---------------------------------------------------------------------------------------------
// Fragments

// Payload whose first bytes would read as ports 4660 > 22136 and TCP flags if misparsed.
const Bytes kPortLike = {0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4, 5, 6, 7, 8,
                         0x50, 0x3f, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0};

TEST(ParseFragment, Ipv4First) {
    Ipv4Options o;
    o.more_fragments = true;
    o.id = 77;
    const Bytes f = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "198.18.0.2", o)
                        .udp(5000, 6000)
                        .payload(1472)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 5000 > 6000 | "
              "first-fragment | payload 1472");
}

TEST(ParseFragment, Ipv4Later) {
    for (bool more : {true, false}) {
        Ipv4Options o;
        o.frag_offset = 1480;
        o.more_fragments = more;
        for (uint8_t proto : {6, 17, 1, 132}) {
            const Bytes f = PacketBuilder()
                                .ethernet()
                                .ipv4("198.18.0.1", "198.18.0.2", o)
                                .protocol(proto)
                                .payload(kPortLike)
                                .build();
            const Parsed p = check(LinkType::Ethernet, f);
            EXPECT_EQ(describe(p), "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto " +
                                       std::to_string(proto) + " | later-fragment | payload 24");
            EXPECT_EQ(p.sport, 0);
            EXPECT_EQ(p.dport, 0);
        }
    }
}

TEST(ParseFragment, Ipv4DontFragmentIsNotAFragment) {
    Ipv4Options o;
    o.dont_fragment = true;
    const Bytes f = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2", o).udp(1, 2).build();
    const Parsed p = check(LinkType::Raw, f);
    EXPECT_FALSE(p.fragment);
    EXPECT_FALSE(p.later_fragment);
    EXPECT_TRUE(p.has_ports());
}

TEST(ParseFragment, Ipv4FirstFragmentTooShortForTransportHeader) {
    // A (malicious) first fragment of 8 bytes cannot hold a TCP header: no ports from beyond it.
    Ipv4Options o;
    o.more_fragments = true;
    Bytes f = PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2", o).tcp(1, 2).build();
    f[16] = 0;
    f[17] = 28;  // the datagram ends 8 bytes into the TCP header
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 6 | first-fragment | payload 0 "
              "| [truncated-l4]");
}

TEST(ParseFragment, Ipv6First) {
    const Bytes f = PacketBuilder()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .ipv6_fragment(0, true, 0xabcdef)
                        .udp(7000, 8000)
                        .payload(100)
                        .build();
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 86dd l3 0 | ip6 2001:db8::1 > 2001:db8::2 | proto 17 | ports 7000 > 8000 | "
              "first-fragment | payload 100");
}

TEST(ParseFragment, Ipv6Later) {
    for (bool more : {true, false}) {
        const Bytes f = PacketBuilder()
                            .ethernet()
                            .ipv6("2001:db8::1", "2001:db8::2")
                            .ipv6_ext(0)
                            .ipv6_fragment(1448, more)
                            .protocol(6)
                            .payload(kPortLike)
                            .build();
        const Parsed p = check(LinkType::Ethernet, f);
        EXPECT_EQ(describe(p),
                  "et 86dd l3 14 | ip6 2001:db8::1 > 2001:db8::2 | proto 6 | later-fragment | "
                  "payload 24");
        EXPECT_EQ(p.sport, 0);
        EXPECT_EQ(p.dport, 0);
        EXPECT_EQ(p.tcp_flags, 0);
    }
}

TEST(ParseFragment, Ipv6AtomicFragmentIsFirst) {
    // Offset 0 without M (RFC 6946): still a fragment header, ports present.
    const Bytes f =
        PacketBuilder().ipv6("::1", "::2").ipv6_fragment(0, false).tcp(1, 2, 0x10).build();
    EXPECT_EQ(describe(check(LinkType::Raw, f)),
              "et 86dd l3 0 | ip6 ::1 > ::2 | proto 6 | ports 1 > 2 | flags . | first-fragment | "
              "payload 0");
}

// ---------------------------------------------------------------------------------------------
// Datagram bounds: Ethernet padding and short datagrams

Bytes with_padding(Bytes f, size_t n) {
    for (size_t i = 0; i < n; ++i) f.push_back(static_cast<uint8_t>(0x11 * (i % 15 + 1)));
    return f;
}

TEST(ParseBounds, EthernetPaddingNotReadAsTransport) {
    // A 20-byte IPv4 datagram announcing UDP, padded to the 60-byte minimum frame.
    const Bytes f = with_padding(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").protocol(17).build(), 26);
    ASSERT_EQ(f.size(), 60u);
    const Parsed p = check(LinkType::Ethernet, f);
    EXPECT_EQ(
        describe(p),
        "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | payload 0 | [truncated-l4]");
}

TEST(ParseBounds, EthernetPaddingNotCountedAsPayload) {
    const Bytes f = with_padding(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(67, 68).build(), 18);
    ASSERT_EQ(f.size(), 60u);
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | ports 67 > 68 | payload 0");
    const Bytes t = with_padding(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").tcp(1, 2, 0x10).build(), 6);
    EXPECT_EQ(describe(check(LinkType::Ethernet, t)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 6 | ports 1 > 2 | flags . | "
              "payload 0");
}

TEST(ParseBounds, TransportHeaderPartlyOutsideDatagram) {
    // Total length says the UDP header is cut after 4 bytes; the padding after it is not read.
    Bytes f = with_padding(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build(), 20);
    f[16] = 0;
    f[17] = 24;
    EXPECT_EQ(
        describe(check(LinkType::Ethernet, f)),
        "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 17 | payload 0 | [truncated-l4]");
    // The same with IPv6: payload length 4.
    Bytes g = with_padding(PacketBuilder().ethernet().ipv6("::1", "::2").udp(1, 2).build(), 20);
    g[18] = 0;
    g[19] = 4;
    EXPECT_EQ(describe(check(LinkType::Ethernet, g)),
              "et 86dd l3 14 | ip6 ::1 > ::2 | proto 17 | payload 0 | [truncated-l4]");
    // IPv6 extension header running past the payload length.
    Bytes h = with_padding(
        PacketBuilder().ethernet().ipv6("::1", "::2").ipv6_ext(0, 16).udp(1, 2).build(), 20);
    h[18] = 0;
    h[19] = 8;
    const Parsed ph = check(LinkType::Ethernet, h);
    EXPECT_EQ(describe(ph), "et 86dd l3 14 | ip6 ::1 > ::2 | [truncated-ext]");
}

TEST(ParseBounds, IcmpInsideShortDatagram) {
    Bytes f = with_padding(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").icmp(8).build(), 18);
    f[17] = 24;  // only 4 bytes of ICMP inside
    EXPECT_EQ(describe(check(LinkType::Ethernet, f)),
              "et 0800 l3 14 | ip4 198.18.0.1 > 198.18.0.2 | proto 1 | payload 0 | [truncated-l4]");
}

// ---------------------------------------------------------------------------------------------
// Truncation at every byte length

struct Layout {
    const char* name;
    LinkType link;
    Bytes frame;
    size_t l3;          // where the IP header starts (end of link header and tags)
    size_t ip_end;      // end of the IP header (options included)
    size_t l4;          // where the transport header starts (after IPv6 extension headers)
    size_t l4_need;     // bytes of transport header needed for ports / ICMP (0: none parsed)
    bool snap = false;  // the link header ends in LLC/SNAP
};

void sweep(const Layout& L) {
    SCOPED_TRACE(L.name);
    const Parsed full = parse(L.link, L.frame);
    ASSERT_EQ(full.issue, ParseIssue::None) << describe(full);
    const std::string full_desc = describe(full);
    for (size_t n = 0; n <= L.frame.size(); ++n) {
        SCOPED_TRACE("captured " + std::to_string(n) + " of " + std::to_string(L.frame.size()));
        const Parsed p = parse_n(L.link, L.frame, n);
        check_invariants(p, n);
        if (n < L.l3) {
            EXPECT_FALSE(p.has_ip());
            if (L.snap && n >= 14) {  // a cut SNAP header cannot be told from another LLC
                EXPECT_TRUE(p.issue == ParseIssue::TruncatedLink || p.issue == ParseIssue::NotIp)
                    << describe(p);
            } else {
                EXPECT_EQ(p.issue, ParseIssue::TruncatedLink) << describe(p);
            }
        } else if (n < L.ip_end) {
            EXPECT_FALSE(p.has_ip()) << describe(p);
            EXPECT_EQ(p.issue, ParseIssue::TruncatedIp) << describe(p);
        } else if (n < L.l4) {
            EXPECT_TRUE(p.has_ip());
            EXPECT_EQ(p.src, full.src);
            EXPECT_EQ(p.dst, full.dst);
            EXPECT_FALSE(p.has_proto()) << describe(p);
            EXPECT_EQ(p.issue, ParseIssue::TruncatedExt) << describe(p);
        } else if (n < L.l4 + L.l4_need) {
            EXPECT_TRUE(p.has_ip());
            EXPECT_EQ(p.src, full.src);
            EXPECT_EQ(p.dst, full.dst);
            ASSERT_TRUE(p.has_proto()) << describe(p);
            EXPECT_EQ(p.proto, full.proto);
            EXPECT_FALSE(p.has_ports()) << describe(p);
            EXPECT_FALSE(p.has_icmp()) << describe(p);
            EXPECT_FALSE(p.has_tcp_flags()) << describe(p);
            EXPECT_EQ(p.issue, ParseIssue::TruncatedL4) << describe(p);
        } else {
            // Headers complete: the same result as the whole frame (payload length is the IP
            // header's, not the capture's).
            EXPECT_EQ(describe(p), full_desc);
        }
    }
}

std::vector<Layout> sweep_layouts() {
    std::vector<Layout> v;
    Ipv4Options opts;
    opts.options = {0x07, 0x07, 0x04, 0, 0, 0, 0};  // record route, padded to 8
    Ipv4Options later;
    later.frag_offset = 2960;
    const Bytes dccp_payload(5, 0x42);

    v.push_back({"eth/ipv4/tcp", LinkType::Ethernet,
                 PacketBuilder()
                     .ethernet()
                     .ipv4("198.18.0.1", "198.18.0.2")
                     .tcp(1234, 443, 0x18, 1, 1, 8)
                     .payload(20)
                     .build(),
                 14, 34, 34, 20});
    v.push_back({"eth/qinq3/ipv4+opts/udp", LinkType::Ethernet,
                 PacketBuilder()
                     .ethernet()
                     .vlan(10, 0x88a8)
                     .vlan(20)
                     .vlan(30)
                     .ipv4("10.0.0.1", "10.0.0.2", opts)
                     .udp(53, 53)
                     .payload(9)
                     .build(),
                 26, 54, 54, 8});
    v.push_back({"sll2/ipv6+ext chain/tcp", LinkType::LinuxSll2,
                 PacketBuilder()
                     .sll2()
                     .ipv6("2001:db8::1", "2001:db8::2")
                     .ipv6_ext(0)
                     .ipv6_ext(43, 16)
                     .ipv6_ext(60)
                     .ipv6_ah(16)
                     .ipv6_fragment(0, true)
                     .tcp(80, 8080, 0x11)
                     .payload(12)
                     .build(),
                 20, 60, 60 + 8 + 16 + 8 + 16 + 8, 20});
    // Ends in a variable-length extension header: cut inside it, there is no protocol yet.
    v.push_back({"raw/ipv6+hop-by-hop+dest opts/udp", LinkType::Raw,
                 PacketBuilder()
                     .ipv6("2001:db8::1", "2001:db8::2")
                     .ipv6_ext(0, 16)
                     .ipv6_ext(60, 24)
                     .udp(1, 2)
                     .payload(3)
                     .build(),
                 0, 40, 80, 8});
    v.push_back({"sll/ipv6/icmp6", LinkType::LinuxSll,
                 PacketBuilder().sll().ipv6("fe80::1", "ff02::2").icmp6(133).payload(8).build(), 16,
                 56, 56, 8});
    v.push_back({"null/ipv4/sctp", LinkType::Null,
                 PacketBuilder()
                     .null_loopback(2)
                     .ipv4("127.0.0.1", "127.0.0.1")
                     .sctp(9, 9)
                     .payload(16)
                     .build(),
                 4, 24, 24, 12});
    v.push_back({"loop/ipv6/dccp", LinkType::Loop,
                 PacketBuilder()
                     .null_loopback(24, true)
                     .ipv6("::1", "::1")
                     .dccp(1, 2)
                     .payload(dccp_payload)
                     .build(),
                 4, 44, 44, 16});
    v.push_back({"raw/ipv4/udplite", LinkType::Raw,
                 PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udplite(3, 4).payload(6).build(),
                 0, 20, 20, 8});
    v.push_back({"ipv4/icmp", LinkType::Ipv4,
                 PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").icmp(8, 0).payload(6).build(), 0,
                 20, 20, 8});
    v.push_back({"ipv6/later fragment", LinkType::Ipv6,
                 PacketBuilder()
                     .ipv6("::1", "::2")
                     .ipv6_ext(60)
                     .ipv6_fragment(1448, false)
                     .protocol(17)
                     .payload(kPortLike)
                     .build(),
                 0, 40, 56, 0});
    v.push_back({"eth/ipv4 later fragment", LinkType::Ethernet,
                 PacketBuilder()
                     .ethernet()
                     .ipv4("198.18.0.1", "198.18.0.2", later)
                     .protocol(6)
                     .payload(kPortLike)
                     .build(),
                 14, 34, 34, 0});
    v.push_back({"eth/vlan/ipv4/gre", LinkType::Ethernet,
                 PacketBuilder()
                     .ethernet()
                     .vlan(5)
                     .ipv4("198.18.0.1", "198.18.0.2")
                     .protocol(47)
                     .payload(kPortLike)
                     .build(),
                 18, 38, 38, 0});
    v.push_back(
        {"eth/802.3 snap/ipv4/udp", LinkType::Ethernet, snap_frame(0x0800), 22, 42, 42, 8, true});
    v.push_back({"eth/ipv4/icmp error", LinkType::Ethernet,
                 PacketBuilder()
                     .ethernet()
                     .ipv4("192.0.2.1", "198.18.0.1")
                     .icmp(3, 1)
                     .ipv4("198.18.0.1", "192.0.2.9")
                     .udp(1, 2)
                     .build(),
                 14, 34, 34, 8});
    return v;
}

TEST(ParseTruncation, EveryByteLength) {
    for (const auto& L : sweep_layouts()) sweep(L);
}

TEST(ParseTruncation, PaddedFrameEveryByteLength) {
    // A short datagram in a padded frame: once the headers are in, more padding changes nothing.
    Layout L{"eth/ipv4/udp + padding",
             LinkType::Ethernet,
             with_padding(PacketBuilder()
                              .ethernet()
                              .ipv4("198.18.0.1", "198.18.0.2")
                              .udp(1, 2)
                              .payload(2)
                              .build(),
                          16),
             14,
             34,
             34,
             8};
    sweep(L);
}

// ---------------------------------------------------------------------------------------------
// Random and mutated input: the invariants hold and nothing is read out of bounds (ASan).

TEST(ParseRobustness, RandomAndMutatedFrames) {
    std::mt19937 rng(12345);
    const LinkType links[] = {LinkType::Null, LinkType::Ethernet, LinkType::Raw,
                              LinkType::Loop, LinkType::LinuxSll, LinkType::Ipv4,
                              LinkType::Ipv6, LinkType::LinuxSll2};
    std::vector<std::pair<LinkType, Bytes>> seeds;
    for (const auto& L : sweep_layouts()) seeds.emplace_back(L.link, L.frame);
    for (int iter = 0; iter < 20000; ++iter) {
        LinkType link;
        Bytes f;
        if (iter % 2) {
            link = links[rng() % std::size(links)];
            f.resize(rng() % 160);
            for (auto& b : f) b = static_cast<uint8_t>(rng());
        } else {
            const auto& s = seeds[rng() % seeds.size()];
            link = s.first;
            f = s.second;
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int i = 0; i < flips; ++i) f[rng() % f.size()] = static_cast<uint8_t>(rng());
            f.resize(rng() % (f.size() + 1));
        }
        const Parsed p = parse_n(link, f, f.size());
        check_invariants(p, f.size());
        if (::testing::Test::HasFailure()) {
            ADD_FAILURE() << "iteration " << iter;
            return;
        }
    }
}

}  // namespace
}  // namespace hookdump
