// Text forms: addresses, TCP flags, timestamps, JSON escaping, and the text sink's line.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "packet/builder.h"
#include "packet/event.h"
#include "packet/format.h"
#include "sink/sinks.h"

namespace hookdump {
namespace {

std::array<uint8_t, 16> v6(const char* text) {
    std::array<uint8_t, 16> a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
    return a;
}

std::string v6_text(const char* in) {
    return addr_to_string(6, v6(in));
}

TEST(FormatAddr, Ipv4DottedQuad) {
    std::array<uint8_t, 16> a{};
    a[0] = 198, a[1] = 18, a[2] = 0, a[3] = 255;
    a[4] = 9;  // beyond the first four bytes: ignored
    EXPECT_EQ(addr_to_string(4, a), "198.18.0.255");
    EXPECT_EQ(addr_to_string(4, {}), "0.0.0.0");
    std::string s = "x=";
    append_addr(s, 4, {255, 255, 255, 255});
    EXPECT_EQ(s, "x=255.255.255.255");
}

TEST(FormatAddr, Ipv6Rfc5952) {
    // 4.1 leading zeros suppressed; 4.3 lower case.
    EXPECT_EQ(v6_text("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
    EXPECT_EQ(v6_text("2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001"),
              "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1");
    // 4.2.1 the longest run shortened as far as possible.
    EXPECT_EQ(v6_text("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1");
    // 4.2.2 a single 16-bit zero field is not shortened.
    EXPECT_EQ(v6_text("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
    // 4.2.3 the longest run wins; of equal runs, the first.
    EXPECT_EQ(v6_text("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
    EXPECT_EQ(v6_text("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    // Edges.
    EXPECT_EQ(v6_text("::"), "::");
    EXPECT_EQ(v6_text("0:0:0:0:0:0:0:1"), "::1");
    EXPECT_EQ(v6_text("fe80:0:0:0:0:0:0:0"), "fe80::");
    EXPECT_EQ(v6_text("ff02::1:ff00:1"), "ff02::1:ff00:1");
    EXPECT_EQ(v6_text("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
    // 5: IPv4-mapped addresses end in dotted quad.
    EXPECT_EQ(v6_text("::ffff:c000:0201"), "::ffff:192.0.2.1");
}

TEST(FormatAddr, UnknownFamilyAppendsNothing) {
    std::string s = "a";
    append_addr(s, 0, v6("::1"));
    EXPECT_EQ(s, "a");
}

TEST(FormatTcpFlags, TcpdumpNotation) {
    auto flags = [](uint8_t f) {
        std::string s;
        append_tcp_flags(s, f);
        return s;
    };
    EXPECT_EQ(flags(0), "none");
    EXPECT_EQ(flags(kTcpSyn), "S");
    EXPECT_EQ(flags(kTcpSyn | kTcpAck), "S.");
    EXPECT_EQ(flags(kTcpAck), ".");
    EXPECT_EQ(flags(kTcpPsh | kTcpAck), "P.");
    EXPECT_EQ(flags(kTcpFin | kTcpAck), "F.");
    EXPECT_EQ(flags(kTcpRst), "R");
    EXPECT_EQ(flags(kTcpRst | kTcpAck), "R.");
    EXPECT_EQ(flags(kTcpUrg | kTcpAck | kTcpPsh), "P.U");
    EXPECT_EQ(flags(kTcpSyn | kTcpEce | kTcpCwr), "SEW");
    EXPECT_EQ(flags(0xff), "FSRP.UEW");
}

TEST(FormatNumbers, AppendUint) {
    std::string s;
    append_uint(s, 0);
    s.push_back(' ');
    append_uint(s, 42);
    s.push_back(' ');
    append_uint(s, UINT64_MAX);
    EXPECT_EQ(s, "0 42 18446744073709551615");
}

TEST(FormatNumbers, EpochNs) {
    auto epoch = [](uint64_t ns) {
        std::string s;
        append_epoch_ns(s, ns);
        return s;
    };
    EXPECT_EQ(epoch(0), "0.000000000");
    EXPECT_EQ(epoch(5), "0.000000005");
    EXPECT_EQ(epoch(1000000000), "1.000000000");
    EXPECT_EQ(epoch(1700000000000001000ull), "1700000000.000001000");
    EXPECT_EQ(epoch(1700000000123456789ull), "1700000000.123456789");
    EXPECT_EQ(epoch(UINT64_MAX), "18446744073.709551615");
}

class UtcTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* tz = std::getenv("TZ");
        had_tz_ = tz != nullptr;
        if (tz) old_tz_ = tz;
        setenv("TZ", "UTC", 1);
        tzset();
    }
    void TearDown() override {
        if (had_tz_)
            setenv("TZ", old_tz_.c_str(), 1);
        else
            unsetenv("TZ");
        tzset();
    }

  private:
    bool had_tz_ = false;
    std::string old_tz_;
};

using FormatClock = UtcTest;

TEST_F(FormatClock, LocalTimeWithMicroseconds) {
    LocalClock clock;
    std::string s;
    clock.append(s, 1700000000123456789ull);  // 2023-11-14T22:13:20.123456789Z
    EXPECT_EQ(s, "22:13:20.123456");
    s.clear();
    clock.append(s, 1700000000999999999ull);  // same second (cached), truncated not rounded
    EXPECT_EQ(s, "22:13:20.999999");
    s.clear();
    clock.append(s, 1700003661000001000ull);  // a new second
    EXPECT_EQ(s, "23:14:21.000001");
    s.clear();
    clock.append(s, 0);
    EXPECT_EQ(s, "00:00:00.000000");
}

TEST(FormatJson, Escaping) {
    auto esc = [](std::string_view in) {
        std::string s;
        append_json_escaped(s, in);
        return s;
    };
    EXPECT_EQ(esc("eth0"), "eth0");
    EXPECT_EQ(esc(R"(a"b\c)"), R"(a\"b\\c)");
    EXPECT_EQ(esc("tab\there\nnl\r"), "tab\\u0009here\\u000anl\\u000d");
    EXPECT_EQ(esc(std::string_view("\0\x1f", 2)), "\\u0000\\u001f");
    EXPECT_EQ(esc("\x7f"), "\\u007f");
    EXPECT_EQ(esc("/ <>&'"), "/ <>&'");
    // Non-ASCII bytes come out escaped one by one: the output stays plain ASCII.
    const std::string out = esc("caf\xc3\xa9");
    EXPECT_EQ(out, "caf\\u00c3\\u00a9");
    for (char c : out) EXPECT_LT(static_cast<unsigned char>(c), 0x80);
}

TEST(FormatNames, CapturePointsDirectionsVerdicts) {
    const char* names[] = {"tap-in", "tap-out",     "prerouting", "input",      "forward",
                           "output", "postrouting", "xdp",        "tc-ingress", "tc-egress",
                           "nflog",  "drop",        "socket"};
    static_assert(std::size(names) == kCapturePointCount - 1);
    for (int i = 1; i < kCapturePointCount; ++i) {
        const auto p = static_cast<CapturePoint>(i);
        EXPECT_EQ(to_string(p), names[i - 1]);
        EXPECT_EQ(capture_point_from_string(names[i - 1]), p);
    }
    EXPECT_EQ(to_string(CapturePoint::Unknown), "-");
    EXPECT_FALSE(capture_point_from_string("-").has_value());
    EXPECT_FALSE(capture_point_from_string("PREROUTING").has_value());
    EXPECT_EQ(to_string(Direction::In), "in");
    EXPECT_EQ(to_string(Direction::Out), "out");
    EXPECT_EQ(to_string(Direction::Unknown), "");
    EXPECT_EQ(to_string(Verdict::Accept), "accept");
    EXPECT_EQ(to_string(Verdict::Drop), "drop");
    EXPECT_EQ(to_string(Verdict::Unknown), "");
}

TEST(FormatNames, IfNameTruncatesToIfnamsiz) {
    IfName n;
    n.assign("a-very-long-interface-name");
    EXPECT_EQ(n.view(), "a-very-long-int");  // 15 bytes and the terminator
    n.assign("lo");
    EXPECT_EQ(n.view(), "lo");
    EXPECT_FALSE(n.empty());
    n.assign("");
    EXPECT_TRUE(n.empty());
}

// ---------------------------------------------------------------------------------------------
// The text sink's line

constexpr uint64_t kTs = 1700000000123456789ull;  // 22:13:20.123456 UTC

struct Frame {
    std::vector<uint8_t> bytes;
    PacketEvent ev;
};

Frame make(std::vector<uint8_t> bytes, LinkType link = LinkType::Ethernet) {
    Frame f{std::move(bytes), {}};
    f.ev.ts_ns = kTs;
    f.ev.len = static_cast<uint32_t>(f.bytes.size());
    f.ev.linktype = static_cast<uint16_t>(link);
    f.ev.bytes = f.bytes;
    f.ev.parsed = parse_packet(link, f.ev.bytes);
    return f;
}

std::string line(const PacketEvent& ev) {
    LocalClock clock;
    std::string s;
    format_text_line(s, clock, ev);
    return s;
}

using TextLine = UtcTest;

TEST_F(TextLine, Udp) {
    Frame f = make(PacketBuilder()
                       .ethernet()
                       .ipv4("198.18.0.1", "198.18.0.2")
                       .udp(5353, 53)
                       .payload(42)
                       .build());
    f.ev.point = CapturePoint::TapIn;
    f.ev.ifname.assign("eth0");
    EXPECT_EQ(line(f.ev),
              "22:13:20.123456 tap-in eth0 IP 198.18.0.1.5353 > 198.18.0.2.53: UDP, length 42\n");
}

TEST_F(TextLine, Tcp) {
    Frame f =
        make(PacketBuilder().ethernet().ipv4("10.0.0.1", "10.0.0.2").tcp(40000, 443, 0x12).build());
    f.ev.point = CapturePoint::PostRouting;
    EXPECT_EQ(
        line(f.ev),
        "22:13:20.123456 postrouting IP 10.0.0.1.40000 > 10.0.0.2.443: TCP Flags [S.], length 0\n");
    Frame g = make(
        PacketBuilder().ethernet().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2, 0).payload(3).build());
    EXPECT_EQ(line(g.ev),
              "22:13:20.123456 IP 10.0.0.1.1 > 10.0.0.2.2: TCP Flags [none], length 3\n");
}

TEST_F(TextLine, Icmp) {
    Frame f = make(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").icmp(8, 0).payload(56).build());
    f.ev.ifname.assign("lo");
    EXPECT_EQ(line(f.ev),
              "22:13:20.123456 lo IP 198.18.0.1 > 198.18.0.2: ICMP echo request, length 56\n");
    Frame g = make(PacketBuilder()
                       .ethernet()
                       .ipv4("192.0.2.1", "198.18.0.1")
                       .icmp(3, 3)
                       .ipv4("198.18.0.1", "192.0.2.9")
                       .udp(1, 2)
                       .build());
    EXPECT_EQ(line(g.ev),
              "22:13:20.123456 IP 192.0.2.1 > 198.18.0.1: ICMP unreachable code 3, length 28\n");
    Frame h = make(PacketBuilder()
                       .ethernet()
                       .ipv4("198.18.0.1", "198.18.0.2")
                       .icmp(13, 0)
                       .payload(12)
                       .build());
    EXPECT_EQ(line(h.ev), "22:13:20.123456 IP 198.18.0.1 > 198.18.0.2: ICMP type 13, length 12\n");
}

TEST_F(TextLine, Ipv6) {
    Frame f = make(PacketBuilder()
                       .ethernet()
                       .ipv6("2001:db8::1", "2001:db8::2")
                       .udp(1000, 2000)
                       .payload(3)
                       .build());
    f.ev.point = CapturePoint::TcEgress;
    f.ev.ifname.assign("veth1");
    EXPECT_EQ(
        line(f.ev),
        "22:13:20.123456 tc-egress veth1 IP6 2001:db8::1.1000 > 2001:db8::2.2000: UDP, length 3\n");
    Frame g = make(
        PacketBuilder().ethernet().ipv6("fe80::1", "ff02::1").icmp6(135, 0).payload(16).build());
    EXPECT_EQ(line(g.ev),
              "22:13:20.123456 IP6 fe80::1 > ff02::1: ICMP6 neighbor solicitation, length 16\n");
    Frame h = make(PacketBuilder()
                       .ethernet()
                       .ipv6("::1", "::2")
                       .ipv6_fragment(8, false)
                       .protocol(17)
                       .payload(24)
                       .build());
    EXPECT_EQ(line(h.ev), "22:13:20.123456 IP6 ::1 > ::2: UDP (fragment), length 24\n");
}

TEST_F(TextLine, Vlan) {
    Frame f = make(PacketBuilder()
                       .ethernet()
                       .vlan(100)
                       .ipv4("10.0.0.1", "10.0.0.2")
                       .udp(1, 4789)
                       .payload(50)
                       .build());
    EXPECT_EQ(line(f.ev),
              "22:13:20.123456 vlan 100, IP 10.0.0.1.1 > 10.0.0.2.4789: UDP, length 50\n");
    Frame g = make(PacketBuilder().ethernet().vlan(5).ethertype(0x0806).payload(28).build());
    EXPECT_EQ(line(g.ev), "22:13:20.123456 vlan 5, ARP, length 46\n");
}

TEST_F(TextLine, NonIp) {
    Frame arp = make(PacketBuilder().ethernet().ethertype(0x0806).payload(28).build());
    arp.ev.len = 60;  // the wire length, not the captured one
    EXPECT_EQ(line(arp.ev), "22:13:20.123456 ARP, length 60\n");
    Frame lldp = make(PacketBuilder().ethernet().ethertype(0x88cc).payload(46).build());
    EXPECT_EQ(line(lldp.ev), "22:13:20.123456 ethertype 0x88cc, length 60\n");
    Frame loop = make(PacketBuilder().null_loopback(7).payload(10).build(), LinkType::Null);
    EXPECT_EQ(line(loop.ev), "22:13:20.123456 non-IP, length 14\n");
    Frame other = make(std::vector<uint8_t>(30, 0));
    other.ev.linktype = 147;
    other.ev.parsed = Parsed{};
    other.ev.parsed.issue = ParseIssue::UnsupportedLink;
    EXPECT_EQ(line(other.ev), "22:13:20.123456 linktype 147 [unsupported-link], length 30\n");
}

TEST_F(TextLine, FragmentsAndIssues) {
    Ipv4Options first;
    first.more_fragments = true;
    Frame f = make(PacketBuilder()
                       .ethernet()
                       .ipv4("198.18.0.1", "198.18.0.2", first)
                       .udp(1, 2)
                       .payload(100)
                       .build());
    EXPECT_EQ(line(f.ev),
              "22:13:20.123456 IP 198.18.0.1.1 > 198.18.0.2.2: UDP (first fragment), length 100\n");
    Ipv4Options later;
    later.frag_offset = 1480;
    Frame g = make(PacketBuilder()
                       .ethernet()
                       .ipv4("198.18.0.1", "198.18.0.2", later)
                       .protocol(6)
                       .payload(40)
                       .build());
    EXPECT_EQ(line(g.ev),
              "22:13:20.123456 IP 198.18.0.1 > 198.18.0.2: TCP (fragment), length 40\n");
    Frame gre = make(PacketBuilder()
                         .ethernet()
                         .ipv4("198.18.0.1", "198.18.0.2")
                         .protocol(47)
                         .payload(8)
                         .build());
    EXPECT_EQ(line(gre.ev), "22:13:20.123456 IP 198.18.0.1 > 198.18.0.2: proto 47, length 8\n");

    // Cut inside the UDP header: addresses but no ports, and the reason.
    std::vector<uint8_t> cut =
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).payload(10).build();
    const uint32_t wire = static_cast<uint32_t>(cut.size());
    cut.resize(38);
    Frame t = make(cut);
    t.ev.len = wire;
    EXPECT_EQ(line(t.ev),
              "22:13:20.123456 IP 198.18.0.1 > 198.18.0.2: UDP, length 0 [truncated-l4]\n");
    // Cut inside the IP header.
    cut.resize(30);
    Frame u = make(cut);
    u.ev.len = wire;
    EXPECT_EQ(line(u.ev), "22:13:20.123456 ethertype 0x0800 [truncated-ip], length 52\n");
    // Cut inside the IPv6 extension headers.
    std::vector<uint8_t> ext =
        PacketBuilder().ethernet().ipv6("::1", "::2").ipv6_ext(0, 16).udp(1, 2).build();
    ext.resize(14 + 40 + 4);
    Frame x = make(ext);
    EXPECT_EQ(line(x.ev), "22:13:20.123456 IP6 ::1 > ::2: ip, length 0 [truncated-ext]\n");
    std::vector<uint8_t> bad =
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").udp(1, 2).build();
    bad[14] = 0x44;
    Frame b = make(bad);
    EXPECT_EQ(line(b.ev), "22:13:20.123456 ethertype 0x0800 [bad-ip-header], length 42\n");
}

TEST_F(TextLine, OtherTransports) {
    Frame s = make(
        PacketBuilder().ethernet().ipv4("198.18.0.1", "198.18.0.2").sctp(9, 10).payload(4).build());
    EXPECT_EQ(line(s.ev), "22:13:20.123456 IP 198.18.0.1.9 > 198.18.0.2.10: SCTP, length 4\n");
    Frame l = make(PacketBuilder()
                       .ethernet()
                       .ipv4("198.18.0.1", "198.18.0.2")
                       .udplite(9, 10)
                       .payload(4)
                       .build());
    EXPECT_EQ(line(l.ev), "22:13:20.123456 IP 198.18.0.1.9 > 198.18.0.2.10: UDP-Lite, length 4\n");
    Frame d = make(PacketBuilder().ethernet().ipv6("::1", "::2").dccp(9, 10).payload(4).build());
    EXPECT_EQ(line(d.ev), "22:13:20.123456 IP6 ::1.9 > ::2.10: DCCP, length 4\n");
}

}  // namespace
}  // namespace hookdump
