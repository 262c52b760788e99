#include "packet/builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace hookdump {
namespace {

void put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
    b[off] = static_cast<uint8_t>(v >> 8);
    b[off + 1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) acc += static_cast<uint32_t>(p[n - 1] << 8);
    return acc;
}

uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(~acc);
}

template <size_t N>
std::array<uint8_t, N> parse_addr(int af, std::string_view text) {
    std::array<uint8_t, N> a{};
    const std::string s(text);
    if (inet_pton(af, s.c_str(), a.data()) != 1)
        throw std::invalid_argument("not an IPv" + std::string(af == AF_INET ? "4" : "6") +
                                    " address: " + s);
    return a;
}

}  // namespace

PacketBuilder& PacketBuilder::push(Kind k, std::span<const uint8_t> bytes, uint32_t value) {
    layers_.push_back({k, bytes_.size(), bytes.size(), value});
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
}

PacketBuilder& PacketBuilder::ethernet(MacAddr src, MacAddr dst) {
    uint8_t h[14] = {};
    std::copy(dst.begin(), dst.end(), h);
    std::copy(src.begin(), src.end(), h + 6);
    return push(Kind::Eth, h);
}

PacketBuilder& PacketBuilder::vlan(uint16_t vid, uint16_t tpid, uint8_t pcp) {
    const uint16_t tci = static_cast<uint16_t>(pcp << 13 | (vid & 0x0fff));
    const uint8_t h[4] = {static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci), 0, 0};
    return push(Kind::Vlan, h, tpid);
}

PacketBuilder& PacketBuilder::sll(uint16_t pkttype, uint16_t hatype) {
    uint8_t h[16] = {};
    h[0] = static_cast<uint8_t>(pkttype >> 8);
    h[1] = static_cast<uint8_t>(pkttype);
    h[2] = static_cast<uint8_t>(hatype >> 8);
    h[3] = static_cast<uint8_t>(hatype);
    h[5] = 6;  // address length
    h[6] = 0x02;
    h[11] = 0x01;
    return push(Kind::Sll, h);
}

PacketBuilder& PacketBuilder::sll2(uint32_t ifindex, uint8_t pkttype) {
    uint8_t h[20] = {};
    put32(h + 4, ifindex);
    h[9] = 1;  // ARPHRD_ETHER
    h[10] = pkttype;
    h[11] = 6;
    h[12] = 0x02;
    return push(Kind::Sll2, h);
}

PacketBuilder& PacketBuilder::null_loopback(uint32_t af, bool network_order) {
    uint8_t h[4];
    if (network_order)
        put32(h, af);
    else
        std::memcpy(h, &af, 4);
    return push(Kind::Null, h, af);
}

PacketBuilder& PacketBuilder::ethertype(uint16_t type) {
    return push(Kind::EtherType, {}, type);
}

PacketBuilder& PacketBuilder::ipv4(std::string_view src, std::string_view dst,
                                   const Ipv4Options& o) {
    std::vector<uint8_t> h(20, 0);
    std::vector<uint8_t> opts = o.options;
    opts.resize((opts.size() + 3) / 4 * 4, 0);
    h.insert(h.end(), opts.begin(), opts.end());
    h[0] = static_cast<uint8_t>(0x40 | (h.size() / 4));
    h[1] = o.tos;
    put16(h, 4, o.id);
    uint16_t frag = static_cast<uint16_t>((o.frag_offset / 8) & 0x1fff);
    if (o.more_fragments) frag |= 0x2000;
    if (o.dont_fragment) frag |= 0x4000;
    put16(h, 6, frag);
    h[8] = o.ttl;
    const auto s = parse_addr<4>(AF_INET, src);
    const auto d = parse_addr<4>(AF_INET, dst);
    std::copy(s.begin(), s.end(), h.begin() + 12);
    std::copy(d.begin(), d.end(), h.begin() + 16);
    return push(Kind::Ipv4, h);
}

PacketBuilder& PacketBuilder::ipv6(std::string_view src, std::string_view dst, uint8_t hop_limit,
                                   uint32_t flow_label) {
    uint8_t h[40] = {};
    put32(h, 0x60000000u | (flow_label & 0xfffff));
    h[7] = hop_limit;
    const auto s = parse_addr<16>(AF_INET6, src);
    const auto d = parse_addr<16>(AF_INET6, dst);
    std::copy(s.begin(), s.end(), h + 8);
    std::copy(d.begin(), d.end(), h + 24);
    return push(Kind::Ipv6, h);
}

PacketBuilder& PacketBuilder::ipv6_ext(uint8_t type, size_t len) {
    if (len < 8 || len % 8 || len > 2048)
        throw std::invalid_argument("IPv6 extension length must be 8..2048, a multiple of 8");
    std::vector<uint8_t> h(len, 0);
    h[1] = static_cast<uint8_t>(len / 8 - 1);
    if (len - 2 >= 2) {  // PadN option filling the rest (valid for hop-by-hop and dest options)
        h[2] = 1;
        h[3] = static_cast<uint8_t>(len - 4);
    }
    return push(Kind::V6Ext, h, type);
}

PacketBuilder& PacketBuilder::ipv6_fragment(uint16_t offset, bool more, uint32_t id) {
    uint8_t h[8] = {};
    const uint16_t fo = static_cast<uint16_t>((offset & 0xfff8) | (more ? 1 : 0));
    h[2] = static_cast<uint8_t>(fo >> 8);
    h[3] = static_cast<uint8_t>(fo);
    put32(h + 4, id);
    return push(Kind::V6Frag, h);
}

PacketBuilder& PacketBuilder::ipv6_ah(size_t len) {
    if (len < 12 || len % 4)
        throw std::invalid_argument("AH length must be >= 12, a multiple of 4");
    std::vector<uint8_t> h(len, 0);
    h[1] = static_cast<uint8_t>(len / 4 - 2);
    return push(Kind::V6Ah, h);
}

PacketBuilder& PacketBuilder::protocol(uint8_t proto) {
    return push(Kind::Proto, {}, proto);
}

PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                  uint32_t ack, size_t options_len) {
    options_len = (options_len + 3) / 4 * 4;
    std::vector<uint8_t> h(20 + options_len, 0);
    put16(h, 0, sport);
    put16(h, 2, dport);
    put32(&h[4], seq);
    put32(&h[8], ack);
    h[12] = static_cast<uint8_t>((h.size() / 4) << 4);
    h[13] = flags;
    put16(h, 14, 65535);
    for (size_t i = 20; i < h.size(); ++i) h[i] = 1;  // NOP options
    return push(Kind::Tcp, h);
}

PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
    std::vector<uint8_t> h(8, 0);
    put16(h, 0, sport);
    put16(h, 2, dport);
    return push(Kind::Udp, h);
}

PacketBuilder& PacketBuilder::udplite(uint16_t sport, uint16_t dport) {
    std::vector<uint8_t> h(8, 0);
    put16(h, 0, sport);
    put16(h, 2, dport);
    return push(Kind::UdpLite, h);
}

PacketBuilder& PacketBuilder::sctp(uint16_t sport, uint16_t dport) {
    std::vector<uint8_t> h(12, 0);
    put16(h, 0, sport);
    put16(h, 2, dport);
    return push(Kind::Sctp, h);
}

PacketBuilder& PacketBuilder::dccp(uint16_t sport, uint16_t dport) {
    std::vector<uint8_t> h(16, 0);
    put16(h, 0, sport);
    put16(h, 2, dport);
    h[4] = 4;           // data offset: 4 words
    h[8] = 1 << 1 | 1;  // type Request, X=1 (extended sequence numbers)
    return push(Kind::Dccp, h);
}

PacketBuilder& PacketBuilder::icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
    std::vector<uint8_t> h(8, 0);
    h[0] = type;
    h[1] = code;
    put16(h, 4, id);
    put16(h, 6, seq);
    return push(Kind::Icmp, h);
}

PacketBuilder& PacketBuilder::icmp6(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
    std::vector<uint8_t> h(8, 0);
    h[0] = type;
    h[1] = code;
    put16(h, 4, id);
    put16(h, 6, seq);
    return push(Kind::Icmp6, h);
}

PacketBuilder& PacketBuilder::payload(size_t n, uint8_t fill) {
    std::vector<uint8_t> p(n, fill);
    return push(Kind::Payload, p);
}

PacketBuilder& PacketBuilder::payload(std::span<const uint8_t> bytes) {
    return push(Kind::Payload, bytes);
}

std::vector<uint8_t> PacketBuilder::build() const {
    std::vector<uint8_t> b = bytes_;
    const size_t end = b.size();
    const size_t n = layers_.size();

    // The type a link layer announces for the layer after it, and the protocol number an IP
    // layer (or IPv6 extension) announces, both taken from the next layer.
    auto ethertype_of = [&](size_t i) -> uint16_t {
        if (i >= n) return 0;
        switch (layers_[i].kind) {
            case Kind::Vlan:
                return static_cast<uint16_t>(layers_[i].value);
            case Kind::EtherType:
                return static_cast<uint16_t>(layers_[i].value);
            case Kind::Ipv4:
                return 0x0800;
            case Kind::Ipv6:
                return 0x86dd;
            default:
                return 0;
        }
    };
    auto proto_of = [&](size_t i, bool v6) -> uint8_t {
        if (i >= n) return v6 ? 59 : 255;
        switch (layers_[i].kind) {
            case Kind::Proto:
                return static_cast<uint8_t>(layers_[i].value);
            case Kind::Ipv4:
                return 4;
            case Kind::Ipv6:
                return 41;
            case Kind::V6Ext:
                return static_cast<uint8_t>(layers_[i].value);
            case Kind::V6Frag:
                return 44;
            case Kind::V6Ah:
                return 51;
            case Kind::Tcp:
                return 6;
            case Kind::Udp:
                return 17;
            case Kind::UdpLite:
                return 136;
            case Kind::Sctp:
                return 132;
            case Kind::Dccp:
                return 33;
            case Kind::Icmp:
                return 1;
            case Kind::Icmp6:
                return 58;
            default:
                return v6 ? 59 : 255;
        }
    };

    for (size_t i = 0; i < n; ++i) {
        const Layer& l = layers_[i];
        const size_t o = l.offset;
        switch (l.kind) {
            case Kind::Eth:
                put16(b, o + 12, ethertype_of(i + 1));
                break;
            case Kind::Vlan:
                put16(b, o + 2, ethertype_of(i + 1));
                break;
            case Kind::Sll:
                put16(b, o + 14, ethertype_of(i + 1));
                break;
            case Kind::Sll2:
                put16(b, o, ethertype_of(i + 1));
                break;
            case Kind::Ipv4:
                put16(b, o + 2, static_cast<uint16_t>(end - o));
                b[o + 9] = proto_of(i + 1, false);
                break;
            case Kind::Ipv6:
                put16(b, o + 4, static_cast<uint16_t>(end - o - 40));
                b[o + 6] = proto_of(i + 1, true);
                break;
            case Kind::V6Ext:
            case Kind::V6Frag:
            case Kind::V6Ah:
                b[o] = proto_of(i + 1, true);
                break;
            case Kind::Udp:
                put16(b, o + 4, static_cast<uint16_t>(end - o));
                break;
            default:
                break;
        }
    }

    // Checksums, innermost layer first: an outer checksum (ICMP error, VXLAN's UDP) covers the
    // inner headers, so their checksums must be final before it is computed.
    for (size_t i = n; i-- > 0;) {
        const Layer& l = layers_[i];
        if (l.kind == Kind::Ipv4) {
            const size_t ihl = (b[l.offset] & 0x0f) * 4u;
            put16(b, l.offset + 10, 0);
            put16(b, l.offset + 10, fold(sum16(&b[l.offset], ihl)));
            continue;
        }
        // Transport checksums, with the IPv4/IPv6 pseudo-header where the protocol uses one.
        size_t csum_at;
        bool pseudo = true;
        switch (l.kind) {
            case Kind::Tcp:
                csum_at = 16;
                break;
            case Kind::Udp:
            case Kind::UdpLite:
                csum_at = 6;
                break;
            case Kind::Icmp:
                csum_at = 2;
                pseudo = false;
                break;
            case Kind::Icmp6:
                csum_at = 2;
                break;
            default:
                continue;
        }
        size_t ip = n;
        for (size_t j = i; j-- > 0;)
            if (layers_[j].kind == Kind::Ipv4 || layers_[j].kind == Kind::Ipv6) {
                ip = j;
                break;
            }
        const size_t o = l.offset;
        const size_t len = end - o;
        uint32_t acc = 0;
        if (pseudo && ip < n) {
            const size_t io = layers_[ip].offset;
            if (layers_[ip].kind == Kind::Ipv4)
                acc = sum16(&b[io + 12], 8);
            else
                acc = sum16(&b[io + 8], 32);
            acc += proto_of(i, layers_[ip].kind == Kind::Ipv6);
            acc += static_cast<uint32_t>(len & 0xffff) + static_cast<uint32_t>(len >> 16);
        }
        put16(b, o + csum_at, 0);
        uint16_t c = fold(sum16(&b[o], len, acc));
        if (c == 0 && l.kind == Kind::Udp) c = 0xffff;
        put16(b, o + csum_at, c);
    }
    return b;
}

}  // namespace hookdump
