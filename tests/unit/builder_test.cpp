// PacketBuilder: lengths, type fields and checksums, verified independently of the builder's
// own arithmetic (a plain RFC 1071 sum over the finished bytes must come out as 0xffff).
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "packet/builder.h"

namespace hookdump {
namespace {

using Bytes = std::vector<uint8_t>;

uint16_t rd16(const Bytes& b, size_t off) {
    return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}

// RFC 1071 one's complement sum, folded, not inverted.
uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i < n; ++i) acc += (i % 2 == 0) ? uint32_t{p[i]} << 8 : p[i];
    return acc;
}
uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(acc);
}

// A header or segment whose checksum field is right sums to 0xffff.
bool ipv4_header_ok(const Bytes& b, size_t ip) {
    const size_t ihl = (b[ip] & 0x0f) * 4u;
    return fold(ones_sum(&b[ip], ihl)) == 0xffff;
}

// Transport checksum with the pseudo-header of the IP header at `ip` (4 or 6 by version).
bool l4_ok(const Bytes& b, size_t ip, size_t l4, uint8_t proto, size_t end = 0) {
    if (!end) end = b.size();
    const size_t len = end - l4;
    uint32_t acc = 0;
    if ((b[ip] >> 4) == 4) {
        acc = ones_sum(&b[ip + 12], 8);
    } else {
        acc = ones_sum(&b[ip + 8], 32);
    }
    acc += proto;
    acc += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff);
    return fold(ones_sum(&b[l4], len, acc)) == 0xffff;
}

bool icmp4_ok(const Bytes& b, size_t l4) {
    return fold(ones_sum(&b[l4], b.size() - l4)) == 0xffff;
}

TEST(Builder, EthernetIpv4Udp) {
    Ipv4Options o;
    o.ttl = 33;
    o.id = 0x1234;
    o.tos = 0xb8;
    const Bytes b = PacketBuilder()
                        .ethernet({0x02, 1, 2, 3, 4, 5}, {0x02, 6, 7, 8, 9, 10})
                        .ipv4("198.18.0.1", "198.18.0.2", o)
                        .udp(5353, 53)
                        .payload(17, 0x5a)
                        .build();
    ASSERT_EQ(b.size(), 14u + 20 + 8 + 17);
    EXPECT_EQ(Bytes(b.begin(), b.begin() + 6), (Bytes{0x02, 6, 7, 8, 9, 10}));  // destination first
    EXPECT_EQ(Bytes(b.begin() + 6, b.begin() + 12), (Bytes{0x02, 1, 2, 3, 4, 5}));
    EXPECT_EQ(rd16(b, 12), 0x0800);
    EXPECT_EQ(b[14], 0x45);
    EXPECT_EQ(b[15], 0xb8);
    EXPECT_EQ(rd16(b, 16), 20 + 8 + 17);  // total length
    EXPECT_EQ(rd16(b, 18), 0x1234);
    EXPECT_EQ(rd16(b, 20), 0);  // no fragment bits
    EXPECT_EQ(b[22], 33);
    EXPECT_EQ(b[23], 17);
    EXPECT_TRUE(ipv4_header_ok(b, 14));
    EXPECT_EQ(rd16(b, 34), 5353);
    EXPECT_EQ(rd16(b, 36), 53);
    EXPECT_EQ(rd16(b, 38), 8 + 17);  // UDP length
    EXPECT_NE(rd16(b, 40), 0);       // checksum present
    EXPECT_TRUE(l4_ok(b, 14, 34, 17));
    EXPECT_EQ(b.back(), 0x5a);
}

TEST(Builder, Ipv4TcpChecksumAndOffsets) {
    const Bytes b = PacketBuilder()
                        .ipv4("203.0.113.1", "203.0.113.200")
                        .tcp(40000, 443, 0x18, 0x01020304, 0x0a0b0c0d, 10)
                        .payload(101)  // odd length exercises the padding byte of the sum
                        .build();
    ASSERT_EQ(b.size(), 20u + 32 + 101);
    EXPECT_EQ(b[9], 6);
    EXPECT_EQ(rd16(b, 2), b.size());
    EXPECT_TRUE(ipv4_header_ok(b, 0));
    EXPECT_EQ(b[20 + 12] >> 4, 8);  // data offset: 32 bytes (10 bytes of options padded to 12)
    EXPECT_EQ(b[20 + 13], 0x18);
    EXPECT_EQ((uint32_t{b[24]} << 24 | b[25] << 16 | b[26] << 8 | b[27]), 0x01020304u);
    EXPECT_EQ((uint32_t{b[28]} << 24 | b[29] << 16 | b[30] << 8 | b[31]), 0x0a0b0c0du);
    EXPECT_TRUE(l4_ok(b, 0, 20, 6));
}

TEST(Builder, Ipv4OptionsPaddedAndChecksummed) {
    Ipv4Options o;
    o.options = {0x94, 0x04, 0x00};  // 3 bytes, padded to 4
    const Bytes b = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2", o).udp(1, 2).build();
    EXPECT_EQ(b[0], 0x46);
    EXPECT_EQ(rd16(b, 2), 24 + 8);
    EXPECT_EQ(b[23], 0);  // the padding
    EXPECT_TRUE(ipv4_header_ok(b, 0));
    EXPECT_TRUE(l4_ok(b, 0, 24, 17));
}

TEST(Builder, Ipv4FragmentFields) {
    Ipv4Options o;
    o.frag_offset = 1480;
    o.more_fragments = true;
    Bytes b = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2", o).protocol(17).payload(8).build();
    EXPECT_EQ(rd16(b, 6), 0x2000 | 185);
    EXPECT_EQ(b[9], 17);
    EXPECT_TRUE(ipv4_header_ok(b, 0));
    Ipv4Options df;
    df.dont_fragment = true;
    b = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2", df).build();
    EXPECT_EQ(rd16(b, 6), 0x4000);
    EXPECT_EQ(b[9], 255);  // nothing after the header: reserved protocol 255
    EXPECT_TRUE(ipv4_header_ok(b, 0));
}

TEST(Builder, Icmp) {
    const Bytes b = PacketBuilder()
                        .ethernet()
                        .ipv4("198.18.0.1", "198.18.0.2")
                        .icmp(8, 0, 0x1111, 0x2222)
                        .payload(57)
                        .build();
    EXPECT_EQ(b[23], 1);
    EXPECT_EQ(b[34], 8);
    EXPECT_EQ(rd16(b, 38), 0x1111);
    EXPECT_EQ(rd16(b, 40), 0x2222);
    EXPECT_TRUE(ipv4_header_ok(b, 14));
    EXPECT_TRUE(icmp4_ok(b, 34));
}

TEST(Builder, Ipv6UdpTcpIcmp6) {
    const Bytes u = PacketBuilder()
                        .ipv6("2001:db8::1", "2001:db8::2", 7, 0xabcde)
                        .udp(1000, 2000)
                        .payload(13)
                        .build();
    EXPECT_EQ(u[0] >> 4, 6);
    EXPECT_EQ(((u[1] & 0x0f) << 16 | u[2] << 8 | u[3]), 0xabcde);
    EXPECT_EQ(rd16(u, 4), 8 + 13);
    EXPECT_EQ(u[6], 17);
    EXPECT_EQ(u[7], 7);
    EXPECT_EQ(rd16(u, 44), 8 + 13);
    EXPECT_TRUE(l4_ok(u, 0, 40, 17));

    const Bytes t =
        PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2, 0x02).payload(3).build();
    EXPECT_EQ(t[6], 6);
    EXPECT_TRUE(l4_ok(t, 0, 40, 6));

    const Bytes i =
        PacketBuilder().ipv6("fe80::1", "ff02::1").icmp6(128, 0, 5, 6).payload(32).build();
    EXPECT_EQ(i[6], 58);
    EXPECT_TRUE(l4_ok(i, 0, 40, 58));
}

TEST(Builder, Ipv6ExtensionChainTypesAndLengths) {
    const Bytes b = PacketBuilder()
                        .ipv6("2001:db8::1", "2001:db8::2")
                        .ipv6_ext(0, 8)
                        .ipv6_ext(43, 24)
                        .ipv6_ah(16)
                        .ipv6_fragment(1448, true, 0xdeadbeef)
                        .ipv6_ext(60, 16)
                        .udp(9, 10)
                        .payload(4)
                        .build();
    const size_t chain = 8 + 24 + 16 + 8 + 16;
    ASSERT_EQ(b.size(), 40 + chain + 8 + 4);
    EXPECT_EQ(rd16(b, 4), chain + 8 + 4);  // payload length covers the extension headers
    EXPECT_EQ(b[6], 0);                    // -> hop-by-hop
    EXPECT_EQ(b[40], 43);                  // hop-by-hop -> routing
    EXPECT_EQ(b[41], 0);                   // (0 + 1) * 8
    EXPECT_EQ(b[48], 51);                  // routing -> AH
    EXPECT_EQ(b[49], 2);                   // 24 bytes
    EXPECT_EQ(b[72], 44);                  // AH -> fragment
    EXPECT_EQ(b[73], 2);                   // AH: 16 / 4 - 2
    EXPECT_EQ(b[88], 60);                  // fragment -> destination options
    EXPECT_EQ(rd16(b, 90), 1448 | 1);      // offset and M
    EXPECT_EQ((uint32_t{b[92]} << 24 | b[93] << 16 | b[94] << 8 | b[95]), 0xdeadbeefu);
    EXPECT_EQ(b[96], 17);  // destination options -> UDP
    EXPECT_EQ(b[97], 1);
    // The pseudo-header length is the upper-layer length, extension headers excluded.
    EXPECT_TRUE(l4_ok(b, 0, 40 + chain, 17));
}

TEST(Builder, UdpLite) {
    const Bytes b = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udplite(1, 2).payload(9).build();
    EXPECT_EQ(b[9], 136);
    EXPECT_EQ(rd16(b, 24), 0);  // checksum coverage 0: the whole datagram
    EXPECT_TRUE(l4_ok(b, 0, 20, 136));
}

TEST(Builder, SctpAndDccpHeaders) {
    const Bytes s = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").sctp(2905, 2906).build();
    EXPECT_EQ(s[9], 132);
    EXPECT_EQ(s.size(), 20u + 12);
    EXPECT_EQ(rd16(s, 20), 2905);
    EXPECT_EQ(rd16(s, 22), 2906);
    const Bytes d = PacketBuilder().ipv6("::1", "::2").dccp(5001, 5002).build();
    EXPECT_EQ(d[6], 33);
    EXPECT_EQ(d.size(), 40u + 16);
    EXPECT_EQ(d[44], 4);  // data offset in words
    EXPECT_EQ(rd16(d, 40), 5001);
}

TEST(Builder, LinkLayers) {
    const Bytes v =
        PacketBuilder().ethernet().vlan(100, 0x88a8, 3).vlan(200).ipv6("::1", "::2").build();
    EXPECT_EQ(rd16(v, 12), 0x88a8);
    EXPECT_EQ(rd16(v, 14), 3 << 13 | 100);
    EXPECT_EQ(rd16(v, 16), 0x8100);
    EXPECT_EQ(rd16(v, 18), 200);
    EXPECT_EQ(rd16(v, 20), 0x86dd);

    const Bytes s = PacketBuilder().sll(4, 1).ipv4("10.0.0.1", "10.0.0.2").build();
    EXPECT_EQ(rd16(s, 0), 4);
    EXPECT_EQ(rd16(s, 2), 1);
    EXPECT_EQ(rd16(s, 4), 6);
    EXPECT_EQ(rd16(s, 14), 0x0800);

    const Bytes s2 = PacketBuilder().sll2(0x01020304, 3).ipv6("::1", "::2").build();
    EXPECT_EQ(rd16(s2, 0), 0x86dd);
    EXPECT_EQ((uint32_t{s2[4]} << 24 | s2[5] << 16 | s2[6] << 8 | s2[7]), 0x01020304u);
    EXPECT_EQ(rd16(s2, 8), 1);
    EXPECT_EQ(s2[10], 3);
    EXPECT_EQ(s2[11], 6);

    const Bytes n = PacketBuilder().null_loopback(2).ipv4("127.0.0.1", "127.0.0.1").build();
    uint32_t af;
    memcpy(&af, n.data(), 4);
    EXPECT_EQ(af, 2u);
    const Bytes l = PacketBuilder().null_loopback(24, true).ipv6("::1", "::1").build();
    EXPECT_EQ((Bytes(l.begin(), l.begin() + 4)), (Bytes{0, 0, 0, 24}));

    const Bytes a = PacketBuilder().ethernet().ethertype(0x0806).payload(28).build();
    EXPECT_EQ(rd16(a, 12), 0x0806);
    EXPECT_EQ(a.size(), 42u);
}

// Encapsulation: every checksum right, inner ones included, and the outer ones covering the
// finished inner headers.
TEST(Builder, NestedChecksums) {
    const Bytes icmp_err = PacketBuilder()
                               .ethernet()
                               .ipv4("192.0.2.1", "198.18.0.1")
                               .icmp(3, 3, 0, 0)
                               .ipv4("198.18.0.1", "192.0.2.99")
                               .udp(40000, 33434)
                               .payload(12)
                               .build();
    EXPECT_TRUE(ipv4_header_ok(icmp_err, 14));
    EXPECT_TRUE(ipv4_header_ok(icmp_err, 42));  // inner IP header
    EXPECT_TRUE(l4_ok(icmp_err, 42, 62, 17));   // inner UDP
    EXPECT_TRUE(icmp4_ok(icmp_err, 34));        // outer ICMP over the finished inner packet

    const Bytes vxlan = PacketBuilder()
                            .ethernet()
                            .ipv4("192.0.2.10", "192.0.2.20")
                            .udp(49152, 4789)
                            .payload(Bytes{0x08, 0, 0, 0, 0, 0, 0x64, 0})
                            .ethernet()
                            .ipv4("10.1.1.1", "10.1.1.2")
                            .tcp(5555, 80, 0x02)
                            .payload(5)
                            .build();
    const size_t inner_ip = 14 + 20 + 8 + 8 + 14;
    EXPECT_EQ(rd16(vxlan, 38), 8 + 8 + 14 + 20 + 20 + 5);  // outer UDP length
    EXPECT_TRUE(ipv4_header_ok(vxlan, 14));
    EXPECT_TRUE(ipv4_header_ok(vxlan, inner_ip));
    EXPECT_TRUE(l4_ok(vxlan, inner_ip, inner_ip + 20, 6));
    EXPECT_TRUE(l4_ok(vxlan, 14, 34, 17));

    const Bytes ipip = PacketBuilder()
                           .ipv4("198.18.0.1", "198.18.0.2")
                           .ipv4("10.0.0.1", "10.0.0.2")
                           .tcp(1, 2)
                           .build();
    EXPECT_EQ(ipip[9], 4);
    EXPECT_EQ(rd16(ipip, 2), 60);
    EXPECT_EQ(rd16(ipip, 22), 40);
    EXPECT_TRUE(ipv4_header_ok(ipip, 0));
    EXPECT_TRUE(ipv4_header_ok(ipip, 20));
    EXPECT_TRUE(l4_ok(ipip, 20, 40, 6));

    const Bytes icmp6_err = PacketBuilder()
                                .ipv6("2001:db8::1", "2001:db8::2")
                                .icmp6(1, 4, 0, 0)
                                .ipv6("2001:db8::2", "2001:db8::99")
                                .udp(1, 2)
                                .payload(3)
                                .build();
    EXPECT_TRUE(l4_ok(icmp6_err, 48, 88, 17));  // inner UDP
    EXPECT_TRUE(l4_ok(icmp6_err, 0, 40, 58));   // outer ICMPv6
}

TEST(Builder, BadAddressesAndLengthsThrow) {
    EXPECT_THROW(PacketBuilder().ipv4("198.18.0.256", "1.2.3.4"), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv4("1.2.3.4", "::1"), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv6("2001:db8::1", "1.2.3.4"), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv6("2001:db8:::1", "::1"), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv6_ext(0, 12), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv6_ext(0, 0), std::invalid_argument);
    EXPECT_THROW(PacketBuilder().ipv6_ah(10), std::invalid_argument);
}

TEST(Builder, BuildIsRepeatable) {
    PacketBuilder b;
    b.ethernet().ipv4("198.18.0.1", "198.18.0.2").tcp(1, 2).payload(10);
    EXPECT_EQ(b.build(), b.build());
}

}  // namespace
}  // namespace hookdump
