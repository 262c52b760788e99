// Zero-copy header parsing: link layer -> outermost IP -> the transport header right after it.
// Never reads past the captured length; a truncated or malformed packet yields a partial
// result and a reason, never a crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hookdump {

// Link types we parse, by their pcap LINKTYPE_ numbers (what files and rings carry).
enum class LinkType : uint16_t {
    Null = 0,  // BSD loopback, host-endian AF_ value
    Ethernet = 1,
    Raw = 101,   // raw IPv4 or IPv6 (LINKTYPE_RAW; DLT_RAW is 12 or 14 on some BSDs)
    Loop = 108,  // OpenBSD loopback, network-endian AF_ value
    LinuxSll = 113,
    Ipv4 = 228,
    Ipv6 = 229,
    LinuxSll2 = 276,
};

// Maps a DLT_ / LINKTYPE_ value to the link types above (DLT_RAW's 12 and 14 included).
// Returns false for link types the parser does not understand.
bool link_type_from_dlt(int dlt, LinkType& out);

enum class ParseIssue : uint8_t {
    None = 0,
    UnsupportedLink,  // the link type is not one we parse
    TruncatedLink,    // link header (or a VLAN tag) cut short
    NotIp,            // a valid frame that does not carry IPv4/IPv6
    TruncatedIp,      // IP header incomplete: no addresses
    BadIpHeader,      // version/IHL/length fields make no sense
    TruncatedExt,     // an IPv6 extension header chain cut short: addresses but no protocol
    TruncatedL4,      // transport header incomplete, or not inside the IP datagram
};

std::string_view to_string(ParseIssue issue);

// TCP flag bits as on the wire (byte 13 of the TCP header).
enum TcpFlag : uint8_t {
    kTcpFin = 0x01,
    kTcpSyn = 0x02,
    kTcpRst = 0x04,
    kTcpPsh = 0x08,
    kTcpAck = 0x10,
    kTcpUrg = 0x20,
    kTcpEce = 0x40,
    kTcpCwr = 0x80,
};

// The parsed view of one packet. Plain data, trivially copyable.
struct Parsed {
    enum Has : uint8_t {
        kIp = 0x01,        // family, src, dst valid
        kProto = 0x02,     // proto valid
        kPorts = 0x04,     // sport, dport valid
        kIcmp = 0x08,      // icmp_type, icmp_code valid
        kTcpFlags = 0x10,  // tcp_flags valid
        kVlan = 0x20,      // vlan (outermost tag's VID) valid
    };

    uint8_t has = 0;
    uint8_t family = 0;  // 4 or 6 when kIp
    uint8_t proto = 0;   // IANA protocol number of the transport header
    uint8_t tcp_flags = 0;
    std::array<uint8_t, 16> src{};  // IPv4 uses the first 4 bytes
    std::array<uint8_t, 16> dst{};
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    bool fragment = false;        // part of a fragmented datagram (first or later)
    bool later_fragment = false;  // offset != 0: carries no transport header
    ParseIssue issue = ParseIssue::None;
    uint8_t vlan_depth = 0;
    uint16_t vlan = 0;        // VID of the outermost tag
    uint16_t ethertype = 0;   // of the network layer (after tags), 0 when unknown
    uint16_t l3_offset = 0;   // where the IP header starts in the captured bytes
    uint32_t ip_payload = 0;  // transport payload length per the IP header (past L4 header)
    // The IP datagram's length per its header (IPv6: 40 + payload length), header included:
    // what flow records count as octets. 0 when unknown.
    uint32_t ip_len = 0;

    bool has_ip() const { return has & kIp; }
    bool has_proto() const { return has & kProto; }
    bool has_ports() const { return has & kPorts; }
    bool has_icmp() const { return has & kIcmp; }
    bool has_tcp_flags() const { return has & kTcpFlags; }
};

// Parses captured bytes of the given link type. Reads only data[0, data.size()).
Parsed parse_packet(LinkType link, std::span<const uint8_t> data);

// Parses from an IP header (what netfilter hooks and tc see past the link layer).
Parsed parse_ip(std::span<const uint8_t> data);

}  // namespace hookdump
