#include "trace/observation.h"

#include <fmt/format.h>

#include "packet/format.h"

namespace hookdump::trace {
namespace {

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
constexpr size_t kNftTransportBytes = 20;  // NFT_TRACETYPE_TRANSPORT_HSIZE

struct Hasher {
    uint64_t h = kFnvOffset;
    void bytes(const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
    }
    void u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * kFnvPrime;
    }
};

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// Offset of the transport header from the IP header, walking IPv6 extension headers the way
// the parser does; 0 when it cannot be found in the captured bytes.
size_t transport_offset(std::span<const uint8_t> ip, uint8_t family, uint8_t proto) {
    if (family == 4) {
        if (ip.size() < 20) return 0;
        return static_cast<size_t>(ip[0] & 0x0f) * 4;
    }
    if (ip.size() < 40) return 0;
    uint8_t next = ip[6];
    size_t off = 40;
    for (int guard = 0; guard < 16 && next != proto; ++guard) {
        if (off + 8 > ip.size()) return 0;
        switch (next) {
            case 0:
            case 43:
            case 60:
            case 135:
            case 139:
            case 140:  // hop, route, dst, mobility, HIP, shim6
                next = ip[off];
                off += (static_cast<size_t>(ip[off + 1]) + 1) * 8;
                break;
            case 44:  // fragment
                next = ip[off];
                off += 8;
                break;
            case 51:  // AH
                next = ip[off];
                off += (static_cast<size_t>(ip[off + 1]) + 2) * 4;
                break;
            default:
                return 0;
        }
    }
    return next == proto ? off : 0;
}

// Fields of the IP header and the transport header that no hook rewrites. NAT rewrites
// addresses, ports, checksums and the ICMP echo id; TTL/hop limit drop when forwarding.
// nft trace messages carry 20 bytes of the transport header: the short key hashes what
// falls in them (`short_end`), the full key up to 16 payload bytes.
void hash_invariants(Hasher& h, Hasher& sh, std::span<const uint8_t> ip, const Parsed& p,
                     uint32_t& l3len) {
    struct Both {
        Hasher& a;
        Hasher& b;
        void u64(uint64_t v) { a.u64(v), b.u64(v); }
        void bytes(const uint8_t* q, size_t n) { a.bytes(q, n), b.bytes(q, n); }
    } hh{h, sh};
    size_t end = ip.size();
    if (p.family == 4) {
        l3len = be16(&ip[2]);
        hh.u64(4);
        hh.bytes(&ip[2], 6);  // total length, id, flags + fragment offset
        hh.u64(ip[9]);
    } else {
        l3len = 40u + be16(&ip[4]);
        hh.u64(6);
        hh.u64((ip[1] & 0x0fu) << 16 | be16(&ip[2]));  // flow label
        hh.bytes(&ip[4], 2);                           // payload length
        hh.u64(p.proto);
    }
    if (l3len < end) end = l3len;
    if (!p.has_proto() || p.later_fragment) return;
    const size_t th = transport_offset(ip, p.family, p.proto);
    if (th == 0 || th >= end) return;
    size_t payload = end;  // hash up to 16 bytes from here
    switch (p.proto) {
        case 6:  // TCP: sequence, acknowledgement, flags
            if (th + 20 > end) return;
            hh.bytes(&ip[th + 4], 10);
            payload = th + static_cast<size_t>(ip[th + 12] >> 4) * 4;
            break;
        case 17:
        case 136:  // UDP, UDP-Lite: length
            if (th + 8 > end) return;
            hh.bytes(&ip[th + 4], 2);
            payload = th + 8;
            break;
        case 1:
        case 58:  // ICMP: type, code, echo sequence (the id is NATed)
            if (th + 8 > end) return;
            hh.bytes(&ip[th], 2);
            hh.bytes(&ip[th + 6], 2);
            payload = th + 8;
            break;
        default:
            payload = th;
    }
    if (payload < end) h.bytes(&ip[payload], std::min<size_t>(16, end - payload));
    const size_t short_end = std::min(end, th + kNftTransportBytes);
    if (payload < short_end) sh.bytes(&ip[payload], std::min<size_t>(16, short_end - payload));
}

}  // namespace

std::string to_string(const Tuple& t) {
    if (t.family == 0) return "?";
    std::string s;
    append_addr(s, t.family, t.src);
    if (t.has_ports) s += fmt::format(":{}", t.sport);
    s += " > ";
    append_addr(s, t.family, t.dst);
    if (t.has_ports) s += fmt::format(":{}", t.dport);
    return s;
}

bool observe(const PacketEvent& ev, Observation& out) {
    Parsed p = ev.parsed;
    if (!ev.bytes.empty()) {
        LinkType lt;
        if (link_type_from_dlt(ev.linktype, lt)) p = parse_packet(lt, ev.bytes);
    }
    if (!p.has_ip()) return false;
    out = Observation{};
    out.ts_ns = ev.ts_ns;
    out.point = ev.point;
    out.slot = ev.slot;
    out.ifindex = ev.ifindex;
    out.ifname = std::string(ev.ifname.view());
    out.tuple.family = p.family;
    out.tuple.proto = p.has_proto() ? p.proto : 0;
    out.tuple.src = p.src;
    out.tuple.dst = p.dst;
    out.tuple.has_ports = p.has_ports();
    out.tuple.sport = p.sport;
    out.tuple.dport = p.dport;
    out.drop = ev.point == CapturePoint::Drop || ev.verdict == Verdict::Drop;
    out.reason = std::string(ev.drop_reason);
    out.location = std::string(ev.drop_location);
    out.bytes.assign(ev.bytes.begin(), ev.bytes.end());
    out.linktype = ev.linktype;
    out.wire_len = ev.len;
    out.dir = ev.dir;
    out.verdict = ev.verdict;
    out.netns = ev.netns;

    Hasher h;
    const size_t l3 = p.l3_offset;
    const bool have_ip_header = !ev.bytes.empty() && l3 < ev.bytes.size() &&
                                ev.bytes.size() - l3 >= (p.family == 4 ? 20u : 40u);
    if (have_ip_header) {
        Hasher sh;
        hash_invariants(h, sh, ev.bytes.subspan(l3), p, out.l3len);
        out.key = {h.h, true};
        out.short_key = {sh.h, true};
    } else {
        // Headers only (an engine that reported the 5-tuple): the length it reported is
        // from the network header on.
        out.l3len = ev.len;
        h.u64(p.family);
        h.u64(out.tuple.proto);
        h.u64(out.l3len);
        h.bytes(p.src.data(), 16);
        h.bytes(p.dst.data(), 16);
        h.u64(uint64_t{p.sport} << 16 | p.dport);
        out.key = {h.h, false};
        out.short_key = out.key;
    }
    return true;
}

int stack_rank(CapturePoint p, PrioritySlot slot) {
    const int last = slot == PrioritySlot::Last ? 1 : 0;
    switch (p) {
        case CapturePoint::Xdp:
            return 0;
        case CapturePoint::TapIn:
            return 2;
        case CapturePoint::TcIngress:
            return 4;
        case CapturePoint::PreRouting:
            return 6 + last;
        case CapturePoint::LocalIn:
            return 10 + last;
        case CapturePoint::Forward:
            return 10 + last;
        case CapturePoint::LocalOut:
            return 10 + last;
        case CapturePoint::PostRouting:
            return 14 + last;
        case CapturePoint::TcEgress:
            return 18;
        case CapturePoint::TapOut:
            return 20;
        default:
            return 30;  // drop reports and the rest end a path
    }
}

std::string_view trace_point_name(CapturePoint p) {
    switch (p) {
        case CapturePoint::PreRouting:
            return "PRE_ROUTING";
        case CapturePoint::LocalIn:
            return "LOCAL_IN";
        case CapturePoint::Forward:
            return "FORWARD";
        case CapturePoint::LocalOut:
            return "LOCAL_OUT";
        case CapturePoint::PostRouting:
            return "POST_ROUTING";
        default:
            return to_string(p);
    }
}

}  // namespace hookdump::trace
