// libFuzzer target: the header parser and the per-packet text forms.
// Input: byte 0 picks the link type (low three bits, see fuzz_common.h) and varies the event's
// metadata (the other bits); the rest is the captured frame.
#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_common.h"
#include "packet/event.h"
#include "packet/format.h"
#include "packet/parse.h"
#include "sink/sinks.h"

using namespace hookdump;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_parse: invariant broken: %s\n", what);
    std::abort();
}

bool same(const Parsed& a, const Parsed& b) {
    return a.has == b.has && a.family == b.family && a.proto == b.proto &&
           a.tcp_flags == b.tcp_flags && a.src == b.src && a.dst == b.dst && a.sport == b.sport &&
           a.dport == b.dport && a.icmp_type == b.icmp_type && a.icmp_code == b.icmp_code &&
           a.fragment == b.fragment && a.later_fragment == b.later_fragment && a.issue == b.issue &&
           a.vlan_depth == b.vlan_depth && a.vlan == b.vlan && a.ethertype == b.ethertype &&
           a.l3_offset == b.l3_offset && a.ip_payload == b.ip_payload;
}

void check(const Parsed& p, size_t caplen) {
    if (p.has_ip() && p.family != 4 && p.family != 6) fail("kIp without family 4 or 6");
    if (!p.has_ip() &&
        (p.has & (Parsed::kProto | Parsed::kPorts | Parsed::kIcmp | Parsed::kTcpFlags)))
        fail("transport fields without kIp");
    if (p.has_ports() && !p.has_proto()) fail("kPorts without kProto");
    if (p.has_tcp_flags() && p.proto != 6) fail("kTcpFlags on a non-TCP packet");
    if (p.has_ports() && p.has_icmp()) fail("both ports and ICMP");
    if (p.has_ip() && p.l3_offset > caplen) fail("l3_offset past the captured bytes");
    if (p.issue == ParseIssue::UnsupportedLink) fail("a known link type reported unsupported");
    if (p.vlan_depth && !(p.has & Parsed::kVlan)) fail("vlan_depth without kVlan");
}

struct Outputs {
    Outputs() {
        SinkOptions so;
        so.path = "/dev/null";
        text = make_text_sink(so);
        csv = make_csv_sink(so);
        jsonl = make_jsonl_sink(so);
    }
    std::unique_ptr<Sink> text, csv, jsonl;
    LocalClock clock;
    std::string line;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    static Outputs* out = new Outputs;  // lives for the whole run, like a capture's sinks

    const uint8_t sel = data[0];
    const LinkType link = fuzz::kLinks[sel % fuzz::kLinkCount];
    const uint8_t meta = sel >> 3;

    // The frame in a buffer of its own exact size, so that ASan sees a read on either side.
    const size_t n = size - 1;
    std::unique_ptr<uint8_t[]> frame(new uint8_t[n]);
    if (n) std::memcpy(frame.get(), data + 1, n);
    const std::span<const uint8_t> bytes(frame.get(), n);

    const Parsed p = parse_packet(link, bytes);
    check(p, n);
    const Parsed ip = parse_ip(bytes);
    check(ip, n);
    if (link == LinkType::Raw && !same(p, ip)) fail("LINKTYPE_RAW differs from parse_ip");
    if (!same(p, parse_packet(link, bytes))) fail("parse_packet is not deterministic");

    // Our address text against libc's, on the frame's first 16 bytes (fuzzed into zero runs,
    // ::ffff:0:0/96 and the like by the comparisons libFuzzer watches).
    if (n >= 16) {
        std::array<uint8_t, 16> a;
        std::memcpy(a.data(), frame.get(), 16);
        char ref[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, a.data(), ref, sizeof ref) || addr_to_string(6, a) != ref)
            fail("IPv6 text differs from inet_ntop");
        if (!inet_ntop(AF_INET, a.data(), ref, sizeof ref) || addr_to_string(4, a) != ref)
            fail("IPv4 text differs from inet_ntop");
    }

    PacketEvent ev;
    ev.ts_ns = 1700000000123456789ull + uint64_t{meta} * 1000003u + n * 7919u;
    ev.point = static_cast<CapturePoint>(meta % kCapturePointCount);
    ev.dir = static_cast<Direction>(meta % 3);
    ev.verdict = static_cast<Verdict>((meta >> 2) % 3);
    ev.ifindex = (meta & 8) ? 7 : 0;
    ev.netns = (meta & 4) ? 4026531840u : 0;
    if (meta & 1)
        ev.ifname.assign("eth0");
    else if (meta & 2)
        ev.ifname.assign("a,b\"c\\d");  // csv quoting, json escaping
    ev.len = static_cast<uint32_t>(n) + ((meta & 16) ? 1000u : 0u);
    ev.linktype = static_cast<uint16_t>(link);
    ev.bytes = bytes;

    for (const Parsed* q : {&p, &ip}) {
        ev.parsed = *q;
        out->line.clear();
        format_text_line(out->line, out->clock, ev);
        if (out->line.empty() || out->line.back() != '\n' ||
            out->line.find('\n') != out->line.size() - 1)
            fail("the text line is not one line");
        out->text->write(ev);
        out->csv->write(ev);
        out->jsonl->write(ev);
    }
    return 0;
}
