#include "packet/parse.h"

#include <cstring>

namespace hookdump {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEth8021Q = 0x8100;
constexpr uint16_t kEth8021AD = 0x88a8;
constexpr uint16_t kEthQinQOld = 0x9100;
constexpr uint16_t kArphrdNetlink = 824;

inline uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

bool is_vlan_tpid(uint16_t t) {
    return t == kEth8021Q || t == kEth8021AD || t == kEthQinQOld;
}

// Skips VLAN tags starting at `off` whose TPID is `ethertype`; returns false when a tag is cut.
[[gnu::always_inline]] inline bool skip_vlan_tags(std::span<const uint8_t> d, size_t& off,
                                                  uint16_t& ethertype, Parsed& out) {
    while (is_vlan_tpid(ethertype)) {
        if (d.size() < off + 4) return false;
        if (out.vlan_depth == 0) {
            out.vlan = be16(&d[off]) & 0x0fff;
            out.has |= Parsed::kVlan;
        }
        if (out.vlan_depth < 255) ++out.vlan_depth;
        ethertype = be16(&d[off + 2]);
        off += 4;
    }
    return true;
}

// 802.3 length field followed by LLC/SNAP with an Ethernet type (RFC 1042).
bool snap_ethertype(std::span<const uint8_t> d, size_t& off, uint16_t& ethertype) {
    static constexpr uint8_t kSnap[6] = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00};
    if (d.size() < off + 8 || std::memcmp(&d[off], kSnap, sizeof kSnap) != 0) return false;
    ethertype = be16(&d[off + 6]);
    off += 8;
    return true;
}

// Fills ports / ICMP / TCP flags from a transport header at `l4` bounded by `end`
// (the smaller of the captured length and the end of the IP datagram).
[[gnu::always_inline]] inline void parse_l4(const uint8_t* base, size_t l4, size_t end,
                                            size_t datagram_end, Parsed& out) {
    const size_t avail = end > l4 ? end - l4 : 0;
    const uint8_t* p = base + l4;
    size_t hdr = 0;
    switch (out.proto) {
        case 6:  // TCP: ports and flags need the fixed 20-byte header
            if (avail < 20) break;
            out.sport = be16(p);
            out.dport = be16(p + 2);
            out.tcp_flags = p[13];
            out.has |= Parsed::kPorts | Parsed::kTcpFlags;
            hdr = (p[12] >> 4) * 4u;
            if (hdr < 20) hdr = 20;
            break;
        case 17:   // UDP
        case 136:  // UDP-Lite
            if (avail < 8) break;
            out.sport = be16(p);
            out.dport = be16(p + 2);
            out.has |= Parsed::kPorts;
            hdr = 8;
            break;
        case 132:  // SCTP common header
            if (avail < 12) break;
            out.sport = be16(p);
            out.dport = be16(p + 2);
            out.has |= Parsed::kPorts;
            hdr = 12;
            break;
        case 33: {  // DCCP generic header: 16 bytes, 12 with the short sequence number (X = 0)
            if (avail < 12) break;
            const size_t generic = (p[8] & 0x01) ? 16 : 12;
            if (avail < generic) break;
            out.sport = be16(p);
            out.dport = be16(p + 2);
            out.has |= Parsed::kPorts;
            hdr = p[4] * 4u;  // data offset: the whole header, options included
            if (hdr < generic) hdr = generic;
            break;
        }
        case 1:   // ICMP
        case 58:  // ICMPv6
            if (avail < 8) break;
            out.icmp_type = p[0];
            out.icmp_code = p[1];
            out.has |= Parsed::kIcmp;
            hdr = 8;
            break;
        default:
            out.ip_payload = datagram_end > l4 ? static_cast<uint32_t>(datagram_end - l4) : 0;
            return;
    }
    if (hdr == 0) {
        out.issue = ParseIssue::TruncatedL4;
        return;
    }
    const size_t payload_start = l4 + hdr;
    out.ip_payload =
        datagram_end > payload_start ? static_cast<uint32_t>(datagram_end - payload_start) : 0;
}

[[gnu::always_inline]] inline void parse_ipv4(std::span<const uint8_t> d, size_t off, Parsed& out) {
    out.l3_offset = static_cast<uint16_t>(off);
    if (d.size() < off + 20) {
        out.issue = ParseIssue::TruncatedIp;
        return;
    }
    const uint8_t* ip = &d[off];
    const size_t ihl = (ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20) {
        out.issue = ParseIssue::BadIpHeader;
        return;
    }
    if (d.size() < off + ihl) {  // options cut by the snap length: the header is incomplete
        out.issue = ParseIssue::TruncatedIp;
        return;
    }
    // A total length of 0 is what TSO/BIG TCP leave in outgoing super-packets.
    size_t tot = be16(ip + 2);
    if (tot == 0) tot = d.size() - off;
    if (tot < ihl) {  // the datagram ends inside its own header: no addresses
        out.issue = ParseIssue::BadIpHeader;
        return;
    }
    out.family = 4;
    out.ip_len = static_cast<uint32_t>(tot);
    std::memcpy(out.src.data(), ip + 12, 4);
    std::memcpy(out.dst.data(), ip + 16, 4);
    out.proto = ip[9];
    out.has |= Parsed::kIp | Parsed::kProto;

    const uint16_t frag = be16(ip + 6);
    out.fragment = (frag & 0x3fff) != 0;
    out.later_fragment = (frag & 0x1fff) != 0;

    const size_t datagram_end = off + tot;
    const size_t l4 = off + ihl;
    if (out.later_fragment) {
        out.ip_payload = static_cast<uint32_t>(tot - ihl);
        return;
    }
    const size_t end = datagram_end < d.size() ? datagram_end : d.size();
    parse_l4(d.data(), l4, end, datagram_end, out);
}

[[gnu::always_inline]] inline void parse_ipv6(std::span<const uint8_t> d, size_t off, Parsed& out) {
    out.l3_offset = static_cast<uint16_t>(off);
    if (d.size() < off + 40) {
        out.issue = ParseIssue::TruncatedIp;
        return;
    }
    const uint8_t* ip = &d[off];
    if ((ip[0] >> 4) != 6) {
        out.issue = ParseIssue::BadIpHeader;
        return;
    }
    out.family = 6;
    std::memcpy(out.src.data(), ip + 8, 16);
    std::memcpy(out.dst.data(), ip + 24, 16);
    out.has |= Parsed::kIp;

    const size_t plen = be16(ip + 4);
    // Payload length 0 means a jumbogram (or a GSO super-packet): bounded by what was captured.
    const size_t datagram_end = plen ? off + 40 + plen : d.size();
    out.ip_len = static_cast<uint32_t>(datagram_end - off);
    const size_t end = datagram_end < d.size() ? datagram_end : d.size();

    uint8_t next = ip[6];
    size_t l4 = off + 40;
    for (int hops = 0; hops < 32; ++hops) {
        size_t len;
        switch (next) {
            case 0:   // hop-by-hop
            case 43:  // routing
            case 60:  // destination options
                if (end < l4 + 2) goto truncated;
                len = (d[l4 + 1] + 1u) * 8;
                if (end < l4 + len) goto truncated;  // the whole header, not just its first bytes
                break;
            case 51:  // AH: length in 4-byte units, minus 2
                if (end < l4 + 2) goto truncated;
                len = (d[l4 + 1] + 2u) * 4;
                if (end < l4 + len) goto truncated;
                break;
            case 44: {  // fragment
                if (end < l4 + 8) goto truncated;
                const uint16_t fo = be16(&d[l4 + 2]);
                out.fragment = true;
                out.later_fragment = (fo & 0xfff8) != 0;
                len = 8;
                break;
            }
            default:
                out.proto = next;
                out.has |= Parsed::kProto;
                if (out.later_fragment) {
                    out.ip_payload =
                        datagram_end > l4 ? static_cast<uint32_t>(datagram_end - l4) : 0;
                    return;
                }
                parse_l4(d.data(), l4, end, datagram_end, out);
                return;
        }
        next = d[l4];
        l4 += len;
        if (out.later_fragment) {  // the rest is payload of a non-first fragment
            out.proto = next;
            out.has |= Parsed::kProto;
            out.ip_payload = datagram_end > l4 ? static_cast<uint32_t>(datagram_end - l4) : 0;
            return;
        }
    }
truncated:
    out.issue = ParseIssue::TruncatedExt;
}

void parse_network(uint16_t ethertype, std::span<const uint8_t> d, size_t off, Parsed& out) {
    out.ethertype = ethertype;
    if (ethertype == kEthIpv4)
        parse_ipv4(d, off, out);
    else if (ethertype == kEthIpv6)
        parse_ipv6(d, off, out);
    else
        out.issue = ParseIssue::NotIp;
}

void parse_by_version(std::span<const uint8_t> d, size_t off, Parsed& out) {
    if (d.size() <= off) {
        out.issue = ParseIssue::TruncatedIp;
        return;
    }
    switch (d[off] >> 4) {
        case 4:
            return parse_network(kEthIpv4, d, off, out);
        case 6:
            return parse_network(kEthIpv6, d, off, out);
        default:
            out.issue = ParseIssue::NotIp;
    }
}

// Address family values used by BSD loopback headers on the systems that write them.
uint16_t ethertype_of_af(uint32_t af) {
    switch (af) {
        case 2:
            return kEthIpv4;
        case 10:
        case 24:
        case 28:
        case 30:
            return kEthIpv6;
        default:
            return 0;
    }
}

}  // namespace

bool link_type_from_dlt(int dlt, LinkType& out) {
    switch (dlt) {
        case 0:
            out = LinkType::Null;
            return true;
        case 1:
            out = LinkType::Ethernet;
            return true;
        case 12:
        case 14:
        case 101:
            out = LinkType::Raw;
            return true;
        case 108:
            out = LinkType::Loop;
            return true;
        case 113:
            out = LinkType::LinuxSll;
            return true;
        case 228:
            out = LinkType::Ipv4;
            return true;
        case 229:
            out = LinkType::Ipv6;
            return true;
        case 276:
            out = LinkType::LinuxSll2;
            return true;
        default:
            return false;
    }
}

std::string_view to_string(ParseIssue issue) {
    switch (issue) {
        case ParseIssue::None:
            return "";
        case ParseIssue::UnsupportedLink:
            return "unsupported-link";
        case ParseIssue::TruncatedLink:
            return "truncated-link";
        case ParseIssue::NotIp:
            return "not-ip";
        case ParseIssue::TruncatedIp:
            return "truncated-ip";
        case ParseIssue::BadIpHeader:
            return "bad-ip-header";
        case ParseIssue::TruncatedExt:
            return "truncated-ext";
        case ParseIssue::TruncatedL4:
            return "truncated-l4";
    }
    return "?";
}

Parsed parse_ip(std::span<const uint8_t> data) {
    Parsed out;
    parse_by_version(data, 0, out);
    return out;
}

Parsed parse_packet(LinkType link, std::span<const uint8_t> d) {
    Parsed out;
    size_t off = 0;
    uint16_t ethertype = 0;
    switch (link) {
        case LinkType::Ethernet:
            if (d.size() < 14) {
                out.issue = ParseIssue::TruncatedLink;
                return out;
            }
            ethertype = be16(&d[12]);
            off = 14;
            if (!skip_vlan_tags(d, off, ethertype, out)) {
                out.issue = ParseIssue::TruncatedLink;
                return out;
            }
            if (ethertype < 0x0600 && !snap_ethertype(d, off, ethertype)) {
                out.issue = ParseIssue::NotIp;
                return out;
            }
            break;
        case LinkType::LinuxSll:
        case LinkType::LinuxSll2: {
            const bool v2 = link == LinkType::LinuxSll2;
            off = v2 ? 20 : 16;
            if (d.size() < off) {
                out.issue = ParseIssue::TruncatedLink;
                return out;
            }
            const uint16_t hatype = v2 ? be16(&d[8]) : be16(&d[2]);
            if (hatype == kArphrdNetlink) {
                out.issue = ParseIssue::NotIp;
                return out;
            }
            ethertype = be16(v2 ? &d[0] : &d[14]);
            if (!skip_vlan_tags(d, off, ethertype, out)) {
                out.issue = ParseIssue::TruncatedLink;
                return out;
            }
            break;
        }
        case LinkType::Null:
        case LinkType::Loop: {
            if (d.size() < 4) {
                out.issue = ParseIssue::TruncatedLink;
                return out;
            }
            uint32_t af;
            std::memcpy(&af, d.data(), 4);
            if (link == LinkType::Loop)
                af = be32(d.data());
            else if (af & 0xffff0000u)  // written on a host of the other byte order
                af = __builtin_bswap32(af);
            ethertype = ethertype_of_af(af);
            if (!ethertype) {
                out.issue = ParseIssue::NotIp;
                return out;
            }
            off = 4;
            break;
        }
        case LinkType::Raw:
            parse_by_version(d, 0, out);
            return out;
        case LinkType::Ipv4:
            ethertype = kEthIpv4;
            break;
        case LinkType::Ipv6:
            ethertype = kEthIpv6;
            break;
        default:
            out.issue = ParseIssue::UnsupportedLink;
            return out;
    }
    parse_network(ethertype, d, off, out);
    return out;
}

}  // namespace hookdump
